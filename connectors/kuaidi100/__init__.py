"""Kuaidi100 (快递100): subscribe a tracking number, receive signed pushes of its full
history, look one parcel up in real time (rate-limited fallback), request an
interception whose result comes back by callback, and book a return pickup (商家寄件)
whose waybill comes back in the answer. See README.md beside this file.

The hub builds its outbox payloads through the connector's capabilities
(``Kuaidi100.subscription_payload(parcel)``, ``Kuaidi100.interception_payload(parcel,
kind)``, ``Kuaidi100.return_label_payload(request)``); the payload builders are also
importable for tests and tools:

    from connectors.kuaidi100 import subscription_payload, interception_payload
    subscription_payload("sf", no, shipment_ref=ref, phone=masked_phone)
    interception_payload("zto", no, "return_to_sender")
"""
from connectors.kuaidi100.connector import Kuaidi100, Kuaidi100Config
from connectors.kuaidi100.payloads import interception_payload, subscription_payload

__all__ = ["Kuaidi100", "Kuaidi100Config", "interception_payload", "subscription_payload"]
