"""The words pages show for the hub's codes (statuses, timeline entries), in the reader's
language; a code without words shows as itself."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

STATUS = {
    # orders
    "pending_payment": _l("awaiting payment"), "paid": _l("paid"), "shipped": _l("shipped"),
    "delivered": _l("delivered"), "completed": _l("completed"), "cancelled": _l("cancelled"),
    "unknown": _l("unknown"),
    # a supplier's part
    "requested": _l("requested"), "accepted": _l("accepted"), "rejected": _l("rejected"),
    "cancel_requested": _l("stop-ship requested"), "cancel_rejected": _l("stop-ship refused"),
    # returns
    "approved": _l("approved"), "awaiting_return": _l("awaiting the parcel"),
    "return_in_transit": _l("parcel on its way back"), "received": _l("received"),
    "inspected": _l("inspected"), "refunded": _l("refunded"), "resolved": _l("resolved"),
    "closed": _l("closed"),
    # parcels
    "pending": _l("pending"), "info_received": _l("label created"),
    "picked_up": _l("picked up"), "in_transit": _l("in transit"),
    "in_customs": _l("in customs"), "out_for_delivery": _l("out for delivery"),
    "available_for_pickup": _l("at a pickup point"), "delivery_failed": _l("delivery failed"),
    "refused": _l("refused"), "returning": _l("returning"), "returned": _l("returned"),
    "intercepted": _l("intercepted"), "exception": _l("exception"), "expired": _l("expired"),
    # messages
    "sent": _l("sent"), "dead": _l("dead"), "superseded": _l("superseded"),
    # statements and claims
    "draft": _l("draft"), "supplier_confirmed": _l("confirmed by the supplier"),
    "disputed": _l("disputed"), "finance_confirmed": _l("confirmed by finance"),
    "acknowledged": _l("acknowledged"), "partly_accepted": _l("partly accepted"),
    "settled": _l("settled"), "written_off": _l("written off"), "withdrawn": _l("withdrawn"),
    # reconciliation outcomes
    "matched": _l("matched"), "matched_with_difference": _l("matched with a difference"),
    "only_in_hub": _l("only in the hub"), "only_in_supplier": _l("only in the supplier's"),
    "duplicate": _l("duplicate"), "supplier_dispute": _l("disputed by the supplier"),
    "open": _l("open"), "decided": _l("decided"), "confirmed": _l("confirmed"),
    # return policy: its verdicts and versions
    "approve": _l("approve at once"), "manual": _l("for a person to decide"),
    "published": _l("in force"), "retired": _l("retired"),
}
CLAIM_STATUS = {  # where a claim's status reads otherwise than an order's
    "accepted": _l("accepted in full"), "sent": _l("awaiting the answer"),
}
KINDS = {"refund_only": _l("refund only"), "return_refund": _l("return and refund"),
         "exchange": _l("exchange"), "reship": _l("reship"), "repair": _l("repair"),
         # ledger entries (a statement's lines)
         "goods_payable": _l("goods payable"), "claim_deduction": _l("claim deducted"),
         "courier_compensation": _l("courier compensation"),
         "platform_penalty": _l("platform penalty"), "write_off": _l("written off"),
         "correction": _l("correction")}
ACTIONS = {
    "order.recorded": _l("Recorded by the hub"), "order.placed": _l("Placed by the buyer"),
    "order.paid": _l("Paid"), "order.held": _l("Held: not to ship"),
    "order.released": _l("Released for shipping"), "order.delivered": _l("Delivered"),
    "fulfilment.requested": _l("Sent to the supplier"),
    "fulfilment.accepted": _l("The supplier accepted it"),
    "fulfilment.rejected": _l("The supplier refused it"),
    "fulfilment.tracking_submitted": _l("The supplier gave the tracking number"),
    "fulfilment.stop_ship_requested": _l("Stop-ship requested"),
    "fulfilment.stop_ship_accepted": _l("The supplier stopped it"),
    "fulfilment.stop_ship_rejected": _l("The supplier could not stop it"),
    "fulfilment.interception_requested": _l("Interception asked of the courier"),
    "fulfilment.expected_return": _l("Expected back"),
    "fulfilment.parcel_coming_back": _l("The parcel is coming back"),
    "fulfilment.dispatch_withdrawn": _l("Dispatch withdrawn"),
    "shipment.registered": _l("Parcel registered"),
    "shipment.tracking_corrected": _l("Tracking number corrected"),
    "shipment.interception_requested": _l("Interception requested"),
    "shipment.interception_submitted": _l("Interception submitted to the courier"),
    "shipment.interception_failed": _l("Interception failed"),
    "shipment.resubscribed": _l("Tracking subscribed again"),
    "liability.decided": _l("Liability decided"), "case.requested": _l("Return requested"),
    "alert.raised": _l("Alert"), "alert.resolved": _l("Alert resolved"),
}
SOURCES = {"hub": _l("hub"), "platform": _l("platform"), "courier": _l("courier"),
           "cli": _l("command line")}


def status_word(code: str | None, of: str | None = None) -> str:
    """``of="claim"``: a claim's status (its "accepted" is not an order's)."""
    if code is None:
        return "—"
    return str((CLAIM_STATUS if of == "claim" else {}).get(code) or STATUS.get(code, code))


def kind_word(code: str) -> str:
    return str(KINDS.get(code, code))


def source_word(source: str) -> str:
    head = source.split(":")[0]
    if head == "supplier":
        return _("supplier %(id)s", id=source.partition(":")[2]) if ":" in source \
            else _("supplier")
    return str(SOURCES.get(source, source))


def timeline_words(entry: dict) -> str:
    """One line for a timeline entry (``hub.domain.returns.casefile``'s shape)."""
    kind, action, details = entry["kind"], entry["action"], entry["details"]
    if action in ACTIONS and kind != "alert":
        return str(ACTIONS[action])
    if kind == "message":
        return _("Message %(topic)s to %(to)s: %(status)s", topic=details["topic"],
                 to=source_word(details["to"]), status=status_word(details["status"]))
    if kind == "delivery":
        return _("Delivery attempt %(n)s: %(outcome)s", n=details["attempt_no"],
                 outcome=details["outcome"])
    if kind == "tracking":
        return _("Courier: %(status)s %(description)s", status=status_word(details["status"]),
                 description=details.get("description") or "")
    if kind == "alert":
        return f"{ACTIONS[action]}: {details.get('message', details.get('alert_kind'))}"
    return action
