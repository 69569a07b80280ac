"""Request factories for the load generator (``bench.load``): each returns ``n``
``(headers, body)`` pairs, built before any clock starts.

``signed_orders`` makes generic_shop ``order.updated`` webhooks (see
``connectors/generic_shop/README.md``): a realistic two-line order record of about 1 KB,
a unique ``webhook-id`` per request and Standard Webhooks signatures with a fresh
timestamp. The same requests sent to the bench's bare handler cost it the same bytes.
"""
from __future__ import annotations

import base64
import json
import os
import time

from connectors import standard_webhooks


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def order_record(n: int) -> dict:
    ext = f"ORD{n:010d}"
    return {
        "id": ext, "status": "paid", "updated_at": "2025-03-01T08:15:30+08:00",
        "currency": "CNY", "total_minor": 25800, "paid_minor": 25800,
        "shipping_fee_minor": 800, "placed_at": "2025-03-01T08:10:02+08:00",
        "paid_at": "2025-03-01T08:11:47+08:00", "ship_by": "2025-03-03T08:11:47+08:00",
        "do_not_ship_reasons": [],
        "buyer": {"name_cipher": "enc:v1:Q2hlbiBXZWkgKGNpcGhlcnRleHQp",
                  "phone_cipher": "enc:v1:MTM4MDAxMzg1Njc4IChjaXBoZXJ0ZXh0KQ==",
                  "address_cipher": "enc:v1:U2hhbmdoYWkgWHVodWkgUm9hZCAxMjMgKGNpcGhlcnRleHQp",
                  "name_masked": "陈*", "phone_masked": "138****5678",
                  "address_masked": "上海市徐汇区****", "province_code": "310000",
                  "city_code": "310100", "district_code": "310104"},
        "lines": [
            {"id": f"{ext}-1", "sku": "TSHIRT-BLK-M", "title": "纯棉短袖T恤 黑色 M码",
             "quantity": 2, "unit_price_minor": 9900, "total_minor": 19800, "is_gift": False},
            {"id": f"{ext}-2", "sku": "SOCKS-WHT-3P", "title": "白色运动袜 三双装",
             "quantity": 1, "unit_price_minor": 5200, "total_minor": 5200, "is_gift": False},
        ],
    }


def signed_orders(n: int, secret: str, id_prefix: str = "evt-") -> list[tuple[dict, bytes]]:
    template = json.dumps({"type": "order.updated", "data": order_record(0)},
                          ensure_ascii=False, separators=(",", ":")).encode()
    marker = b"ORD0000000000"
    ts = int(time.time())
    out = []
    for i in range(n):
        body = template.replace(marker, f"ORD{i:010d}".encode())
        msg_id = f"{id_prefix}{i}"
        headers = {"Content-Type": "application/json",
                   **standard_webhooks.headers([secret], msg_id, body, timestamp=ts)}
        out.append((headers, body))
    return out
