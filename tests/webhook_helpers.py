"""Building signed generic_shop deliveries for the inbox tests."""
from __future__ import annotations

import itertools
import json
import threading
from contextlib import contextmanager

from werkzeug.serving import make_server

from connectors import standard_webhooks
from tests.factories import WHSEC

_ids = itertools.count(1)


def order_data(order_id="GS-1", status="paid", updated_at="2026-11-01T16:05:00+08:00",
               sku="SKU-1", **extra) -> dict:
    return {"id": order_id, "status": status, "updated_at": updated_at, "currency": "CNY",
            "total_minor": 1990, "paid_minor": 1990,
            "buyer": {"phone_cipher": "#enc#1", "phone_masked": "138****5678"},
            "lines": [{"id": "L1", "sku": sku, "quantity": 1, "unit_price_minor": 1990}],
            **extra}


def envelope(event_type: str, data: dict) -> bytes:
    return json.dumps({"type": event_type, "data": data}, ensure_ascii=False).encode()


def signed(body: bytes, msg_id: str | None = None, secret: str = WHSEC,
           timestamp: int | None = None, **extra) -> dict:
    msg_id = msg_id or f"msg_{next(_ids)}"
    return {**standard_webhooks.headers([secret], msg_id, body, timestamp),
            "Content-Type": "application/json", **extra}


def url(account_id: int, connector: str = "generic_shop") -> str:
    return f"/webhooks/{connector}/{account_id}"


@contextmanager
def live_server(app):
    """The app on a real threaded HTTP server; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
