"""``GET /docs/suppliers``: the protocol page for suppliers (hub webhooks + supplier API).

The page is ``templates/supplier_docs.html``; the examples it shows are built here so the
tests can check them: ``VERIFY_EXAMPLE`` is executed against a real signed delivery, and
the payload examples use the notice shapes of ``hub.domain.pushes.supplier_notices`` (the
``claim_notice`` one: ``hub.domain.liability.claims.payload``; ``statement_notice``:
``hub.domain.finance.statements.payload``).
"""
from __future__ import annotations

import json

from flask import render_template, request

from hub.web.docs import docs_blueprint
from hub.web.context import hub

VERIFY_EXAMPLE = '''\
import base64, hashlib, hmac, time

def verify(secrets, headers, body, tolerance=300):
    """The webhook-id when the raw `body` was signed by the hub with one of `secrets`."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id = h.get("webhook-id")
    ts = h.get("webhook-timestamp")
    sigs = h.get("webhook-signature")
    if not (msg_id and ts and sigs):
        raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
    now = time.time()
    if not now - tolerance <= int(ts) <= now + tolerance:  # compared: no float overflow
        raise ValueError("webhook-timestamp is too old or too new")
    signed = f"{msg_id}.{ts}.".encode() + body
    given = [s.split(",", 1)[1] for s in sigs.split() if s.startswith("v1,")]
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        mac = hmac.new(key, signed, hashlib.sha256).digest()
        expected = base64.b64encode(mac).decode()
        if any(hmac.compare_digest(expected, g) for g in given):
            return msg_id
    raise ValueError("no valid v1 signature")
'''

_BUYER = {"name_masked": "张*", "phone_masked": "138****5678",
          "address_masked": "浙江省杭州市西湖区****", "province_code": "330000",
          "city_code": "330100", "district_code": "330106", "name_cipher": "#enc#name",
          "phone_cipher": "#enc#phone", "address_cipher": "#enc#address"}
EXAMPLES = {
    "order_dispatch": {
        "fulfilment_id": 41, "answer_by": "2026-11-02T08:00:00+00:00",
        "order": {"platform_order_id": "2611011234567890", "placed_at": "2026-11-01T07:58:00+00:00",
                  "paid_at": "2026-11-01T08:00:00+00:00", "ship_by": "2026-11-03T08:00:00+00:00",
                  "note": "请用纸箱", "buyer": _BUYER},
        "lines": [{"sku": "TEE-RED-M", "supplier_sku": "F-1002-M", "title": "T恤 红色 M",
                   "quantity": 2}]},
    "stop_ship": {"fulfilment_id": 41, "platform_order_id": "2611011234567890",
                  "reason": "buyer_refund", "answer_by": "2026-11-01T10:00:00+00:00"},
    "return_notice": {
        "return_case_id": 7, "fulfilment_id": 41, "platform_order_id": "2611011234567890",
        "kind": "return_refund", "reason_code": "quality.damaged", "reason_text": "破损",
        "lines": [{"sku": "TEE-RED-M", "quantity": 1}],
        "tracking": {"carrier": "sf", "tracking_number": "SF1234567890123"},
        "expected_return": True},
    "tracking_notice": {
        "shipment_id": 88, "fulfilment_id": 41, "return_case_id": 7, "carrier": "sf",
        "tracking_number": "SF1234567890123", "status": "delivered",
        "occurred_at": "2026-11-05T03:10:00+00:00"},
    "claim_notice": {
        "claim_id": "93", "decision_id": 52, "event": "return", "rule": "quality_defect",
        "reason": "quality", "status": "sent", "fulfilment_id": 41,
        "supplier_reference": "F-20261101-0007", "platform_order_id": "2611011234567890",
        "amount_minor": 2000, "currency": "CNY",
        "costs": [{"cost": "goods", "amount_minor": 1200},
                  {"cost": "return_freight", "amount_minor": 800}],
        "message": "商品质量问题，货款和退货运费由供应商承担。费用：货款 ¥12.00，退货运费 ¥8.00。"
                   "承担：供应商 ¥20.00。\na quality defect: the supplier pays the goods and "
                   "the return freight. Costs: goods ¥12.00, return freight ¥8.00. Paid by: "
                   "supplier ¥20.00.",
        "why_zh": "商品质量问题，货款和退货运费由供应商承担。费用：货款 ¥12.00，退货运费 ¥8.00。"
                  "承担：供应商 ¥20.00。",
        "why_en": "a quality defect: the supplier pays the goods and the return freight. "
                  "Costs: goods ¥12.00, return freight ¥8.00. Paid by: supplier ¥20.00.",
        "answer_by": "2026-11-15T09:30:00+00:00",
        "lines": [{"sku": "TEE-RED-M", "quantity": 1, "supplier_sku": "F-1002-M"}],
        "evidence": [
            {"at": "2026-11-05T03:10:00+00:00", "source": "platform",
             "en": "the buyer asked for return_refund, reason quality.defect"},
            {"at": "2026-11-08T09:30:00+00:00", "source": "supplier:3",
             "en": "inspection: damaged, grade D"},
            {"at": "2026-11-08T09:30:00+00:00", "source": "supplier:3",
             "en": "inspection photo",
             "sha256": "9f2c4e1a7b3d5f60812a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d"}]},
    "statement_notice": {
        "statement_id": 12, "status": "sent", "period": "2026-11",
        "starts_at": "2026-10-31T16:00:00+00:00", "ends_at": "2026-11-30T16:00:00+00:00",
        "currency": "CNY", "opening_minor": 0, "payables_minor": 60000,
        "deductions_minor": -2000, "adjustments_minor": 0, "closing_minor": 58000,
        "lines": [
            {"line_id": 301, "kind": "goods_payable", "document_ref": "F-20261101-0007",
             "order_no": "2611011234567890", "waybill": "SF1234567890123",
             "amount_minor": 60000, "occurred_at": "2026-11-02T03:10:00+00:00",
             "late": False, "memo": "goods at contract cost"},
            {"line_id": 302, "kind": "claim_deduction", "document_ref": "CLM-93",
             "order_no": "2611011234567890", "waybill": "SF1234567890123",
             "amount_minor": -2000, "occurred_at": "2026-11-09T01:00:00+00:00",
             "late": False, "memo": "claim 93 accepted"}]},
}
TOPIC_TEXT = {
    "order_dispatch": "a new order for you to ship; accept or reject it by answer_by, then "
                      "hand back the tracking number",
    "stop_ship": "do not ship this order (the buyer cancelled or was refunded); answer by "
                 "answer_by: accepted, or rejected because it already left, with its tracking",
    "return_notice": "goods are coming back to you (tracking once the buyer ships); confirm "
                     "receipt with the condition and photos when the parcel arrives",
    "tracking_notice": "a parcel you shipped, or a return on its way to you, changed status",
    "claim_notice": "the merchant claims compensation from you (status sent): acknowledge "
                    "it, then accept all or part of it or dispute it by answer_by (see "
                    "Claims below); a second notice with status withdrawn means the "
                    "merchant took the claim back and it needs no answer",
    "statement_notice": "the merchant's statement (对账单) of a period (status sent): "
                        "confirm it, or dispute the lines you do not agree with (see "
                        "Statements below); a second notice with status closed is the "
                        "period closed, for your records",
}


def envelope_example(topic: str) -> str:
    return json.dumps({"type": topic, "id": "3f0c9a1e5b7d2c4f6a8e0b1d3c5f7a9e2b4d6f8a",
                       "created_at": "2026-11-01T08:00:01+00:00", "data": EXAMPLES[topic]},
                      ensure_ascii=False, indent=2)


@docs_blueprint.get("/docs/suppliers")
def supplier_docs():
    from hub.domain.liability.claims import REASONS
    from hub.domain.returns.inspection import CONDITIONS, GRADES, MAX_PHOTO_BYTES, MAX_PHOTOS
    from hub.models.liability import COSTS, EVENTS

    settings = hub().settings
    base = (settings.public_url or request.host_url).rstrip("/")
    return render_template(
        "supplier_docs.html", base=base, verify_example=VERIFY_EXAMPLE,
        topics=[(t, TOPIC_TEXT[t], envelope_example(t)) for t in EXAMPLES],
        max_attempts=settings.outbox_max_attempts, max_photos=MAX_PHOTOS,
        max_photo_mib=MAX_PHOTO_BYTES // (1024 * 1024), conditions=CONDITIONS, grades=GRADES,
        claim_events=EVENTS, claim_costs=COSTS,
        claim_reasons=list(dict.fromkeys(REASONS.values())))
