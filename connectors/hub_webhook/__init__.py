"""Hub webhooks: the hub's own signed webhooks to a supplier's endpoint (Standard Webhooks).

A supplier that has a web server gets every notice addressed to it (order dispatch,
stop-ship request, return notice, tracking notice; claim notices later) as a signed POST
the moment the outbox sends it, and answers through the supplier REST API
(``/api/v1/supplier/...``). The protocol is documented for suppliers at ``/docs/suppliers``.

    connector.py   declaration, config schema, ``push``
    client.py      the HTTP side: endpoint policy, signing, error classes by response
    secrets.py     generating, rotating and retiring the ``whsec_`` secrets
"""
from connectors.hub_webhook.connector import HubWebhook

__all__ = ["HubWebhook"]
