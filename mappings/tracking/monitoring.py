"""Whether a provider is still watching a number, and what the hub should do about it.

A Kuaidi100 push carries a *monitoring* state beside the parcel's: ``polling`` (still
tracking), ``shutdown`` (done — signed for or finished), ``abort`` (stopped: "3天查询无
记录" no record for 3 days, "60天无变化" no change for 60 days, or a carrier-code
correction) or ``updateall`` (a full re-push). 17TRACK says ``TRACKING_STOPPED``. This
is kept apart from the parcel status: an abort does not change where the parcel is.

    m = kuaidi100_monitoring(push_param)      # or monitoring_from_values(tracking_values)
    plan = resubscribe_plan(m, received_at=now, subscriptions_this_month=n)
    plan.action        # "none" | "done" | "resubscribe" | "give_up"
    plan.not_before    # resubscribe no earlier than this (abort + 30 min)
    plan.carrier       # the carrier to subscribe with (the corrected one after autoCheck)

Kuaidi100's rules [V]: re-subscribe at least 30 minutes after an abort; at most 4
subscriptions per company + number per month. The hub counts its own subscriptions.
An abort caused by a carrier-code correction (``autoCheck=1``, ``comOld`` → ``comNew``)
needs no new subscription: Kuaidi100 goes on pushing under ``comNew``; the hub updates
the shipment's carrier (``plan.carrier``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mappings.tracking.carriers import normalise

RESUBSCRIBE_AFTER = timedelta(minutes=30)
MAX_SUBSCRIPTIONS_PER_MONTH = 4
STATES = ("polling", "shutdown", "abort", "updateall")


@dataclass(frozen=True)
class Monitoring:
    state: str | None             # polling | shutdown | abort | updateall | stopped | raw
    reason: str | None = None     # no_records | no_change | carrier_corrected | None
    message: str = ""
    carrier_old: str | None = None   # normalised, on a carrier-code correction
    carrier_new: str | None = None
    known: bool = True

    @property
    def active(self) -> bool:
        """The provider will push again without a new subscription."""
        return self.state in ("polling", "updateall", "tracking")


@dataclass(frozen=True)
class ResubscribePlan:
    action: str                   # none | done | resubscribe | give_up
    reason: str
    not_before: datetime | None = None
    carrier: str | None = None


def _reason(message: str) -> str | None:
    if "3天" in message or "无记录" in message:
        return "no_records"
    if "60天" in message or "无变化" in message:
        return "no_change"
    return None


def kuaidi100_monitoring(param: dict) -> Monitoring:
    """The monitoring state of a Kuaidi100 push ``param`` object (never raises)."""
    state = param.get("status")
    state = str(state).strip() if state not in (None, "") else None
    message = str(param.get("message") or "")
    old = new = None
    reason = _reason(message)
    if str(param.get("autoCheck") or "") == "1" and param.get("comNew"):
        new = normalise("kuaidi100", param.get("comNew")).carrier
        if param.get("comOld"):
            old = normalise("kuaidi100", param.get("comOld")).carrier
        if old != new:
            reason = "carrier_corrected"
    return Monitoring(state, reason, message, old, new, known=state in STATES or state is None)


def monitoring_from_values(values) -> Monitoring:
    """The monitoring state carried by mapped ``TrackingValues`` (its ``monitoring`` and
    the ``monitoring_abort:<reason>`` / ``carrier_corrected:<old>-><new>`` flags), for a
    caller that only has the values."""
    reason = old = new = None
    for flag in getattr(values, "flags", ()) or ():
        if flag.startswith("monitoring_abort:"):
            reason = reason or flag.partition(":")[2]
        elif flag.startswith("carrier_corrected:"):
            old, _, new = flag.partition(":")[2].partition("->")
            reason = "carrier_corrected"
    state = getattr(values, "monitoring", None)
    return Monitoring(state, reason if reason != "unspecified" else None, "", old or None,
                      new or None, known=state in (*STATES, "tracking", "stopped", None))


def resubscribe_plan(m: Monitoring, *, received_at: datetime,
                     subscriptions_this_month: int) -> ResubscribePlan:
    """What to do after a push with monitoring ``m``, received at ``received_at``."""
    if m.state == "shutdown":
        return ResubscribePlan("done", "tracking finished (shutdown)")
    if m.state == "stopped":
        return ResubscribePlan("done", "provider stopped tracking")
    if m.state != "abort":
        return ResubscribePlan("none", f"monitoring {m.state or 'not given'}")
    if m.reason == "carrier_corrected":   # Kuaidi100 goes on under the corrected code
        return ResubscribePlan("none", f"carrier corrected {m.carrier_old} -> {m.carrier_new}; "
                               "pushes continue under the new code", carrier=m.carrier_new)
    if subscriptions_this_month >= MAX_SUBSCRIPTIONS_PER_MONTH:
        return ResubscribePlan("give_up", f"abort ({m.reason or m.message or 'no reason'}); "
                               f"{MAX_SUBSCRIPTIONS_PER_MONTH} subscriptions this month already")
    return ResubscribePlan("resubscribe", f"abort ({m.reason or m.message or 'no reason'})",
                           not_before=received_at + RESUBSCRIBE_AFTER,
                           carrier=m.carrier_new)
