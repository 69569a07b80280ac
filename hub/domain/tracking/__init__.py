"""Tracking: parcels both ways and what their couriers say.

    shipments  registering a parcel, subscribing it at the courier, re-subscription,
               interception (``register_shipment``, ``subscribe``, ``resubscribe_due``,
               ``request_interception``: the service functions)
    records    a courier's tracking record applied (publishes ``ShipmentTracked``)
    effects    what an outbound parcel's moves do: the order delivered, an expected
               return, alerts and tracking notices (``notice``, ``fulfilment_of``)
"""
