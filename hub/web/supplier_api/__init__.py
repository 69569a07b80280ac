"""The supplier REST API: ``/api/v1/supplier/...``, for ``supplier`` tokens only.

A supplier token is bound to one supplier; every query starts from ``hub.web.kit.scope``, so
a supplier sees its own notices, fulfilments, parcels and the return lines of its
fulfilments, and nothing of another supplier or merchant (their ids answer 404), even
on an order split between suppliers. The routes live on the hub's one API blueprint:

    notices.py      GET /supplier/notices, POST /supplier/notices/<id>/ack
    fulfilments.py  GET /supplier/fulfilments[/<id>], POST .../accept | reject | tracking |
                    stop-ship
    receipts.py     POST /supplier/returns/<id>/receipt (multipart or JSON, with photos)
    claims.py       GET /supplier/claims[/<id>[/evidence]], POST .../acknowledge | answer;
                    GET /supplier/balance
    statements.py   GET /supplier/statements[/<id>[/lines | /export]], POST .../confirm |
                    dispute
    docs.py         the protocol page for suppliers, ``/docs/suppliers``

The answers go through the domain services (``hub.domain.fulfilment.allocation``, ``hub.domain.fulfilment.stopship``,
``hub.domain.returns.flow``), which hold the state rules; the protocol for suppliers, webhooks
included, is the page ``/docs/suppliers``. A notice whose webhook dies (410 Gone, a refused
signature, retries exhausted) is alerted by ``hub.domain.pushes.supplier_notices``.
"""
from hub.web.supplier_api import (  # noqa: F401
    claims, docs, fulfilments, notices, receipts, statements,
)
