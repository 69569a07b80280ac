"""A return's whole life under random input (issue 12, item 10): a hypothesis state
machine drives random sequences of platform records (fresh and stale, naming the buyer's
parcel or not), courier scans of the return parcel, supplier receipts and the merchant's
decisions through the domain, as production applies them (``hub.pipeline.sync.apply``
and the service functions), and after every step checks what must always hold:

* the case's status is one the model knows, and it never goes backwards except by the
  platform's own newer word (a status the hub reached itself is kept against a lower
  one that is not a decision);
* the hub never reaches ``received`` or ``inspected`` without evidence (a delivered
  return parcel or a receipt; ``inspected``: a graded inspection) — the platform here
  never says either, as Kuaishou does not;
* money moves at most once: at most one refund-moving push (``refund_approve``,
  ``return_receipt``) is live for the case;
* at most one live second dispatch (exchange, reship, repair) per case;
* what is recorded is never taken back: inspections, stock movements, policy verdicts
  and audit entries only grow.

Bounded and reproducible (``tests/fuzz/bounds.py``).
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from hub.core.errors import ApiError
from hub.domain import fulfilment as flow
from hub.domain.returns import decisions, inspection as receiving
from hub.domain.returns.states import DECISIONS, HUB_PROGRESS, RANK
from hub.models import (
    AuditEntry, Fulfilment, Inspection, OutboxMessage, PolicyDecision, ReturnCase, Shipment,
    StockMovement,
)
from hub.models.returns import RETURN_STATUSES
from tests import factories as f
from tests.conftest import wipe
from tests.fuzz.bounds import bounded
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, courier_id, fake_connectors, fulfilments, order_values, return_values,
    tracking_values, world,
)

PLATFORM_SAYS = ("requested", "approved", "rejected", "awaiting_return", "return_in_transit",
                 "refunded", "closed")
KINDS = ("refund_only", "return_refund", "exchange", "repair")
MONEY = ("refund_approve", "return_receipt")
GROWING = (Inspection, StockMovement, PolicyDecision, AuditEntry)


class ReturnLife(RuleBasedStateMachine):
    def __init__(self, database):
        super().__init__()
        self.db = database
        wipe(database)
        with database.session() as s:
            self.w = world(s, terms={"return_address_id": "ADDR-1"})
        apply(database, self.w["shop_id"], order_values())
        with database.session() as s:
            [x] = fulfilments(s, self.w["merchant_id"])
            flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
            self.courier = courier_id(s, self.w["merchant_id"])
        self.kind, self.clock, self.parcel = None, f.T0 + timedelta(hours=1), None
        self.status, self.said, self.counts = None, None, {m: 0 for m in GROWING}

    # -- what happens ----------------------------------------------------------------------
    @rule(status=st.sampled_from(PLATFORM_SAYS), kind=st.sampled_from(KINDS),
          stale=st.booleans(), parcel=st.booleans())
    def platform_says(self, status, kind, stale, parcel):
        self.kind = self.kind or kind  # a case keeps its kind
        self.clock += timedelta(minutes=1)
        at = self.clock - timedelta(hours=2) if stale else self.clock
        values = return_values(kind=self.kind, status=status, updated=at)
        if parcel:
            self.parcel = "SFRET0001"
            values = dataclasses.replace(values, return_carrier="sf",
                                         return_tracking_number=self.parcel)
        outcome = apply(self.db, self.w["shop_id"], values)
        self.said = status if outcome in ("created", "updated") else None

    @rule(status=st.sampled_from(("in_transit", "delivered")))
    def courier_scans(self, status):
        self.said = None
        if self.parcel:
            self.clock += timedelta(minutes=1)
            apply(self.db, self.courier, tracking_values(self.parcel, status=status,
                                                         at=self.clock))

    @rule(condition=st.sampled_from(("intact", "damaged", "wrong_item")),
          grade=st.sampled_from((None, "A", "C")))
    def supplier_receives(self, condition, grade):
        self.said = None
        self._attempt(lambda s, case: receiving.confirm_return_receipt(
            s, case, f"supplier:{self.w['supplier_id']}", condition, grade=grade))

    @rule(decision=st.sampled_from(("approve", "reject", "refund")))
    def merchant_decides(self, decision):
        self.said = None
        calls = {"approve": lambda s, c: decisions.approve(s, c, "user:1"),
                 "reject": lambda s, c: decisions.reject(s, c, "user:1", "1", "no"),
                 "refund": lambda s, c: decisions.refund(s, c, "user:1")}
        self._attempt(calls[decision])

    def _attempt(self, call):
        with self.db.session() as s:
            case = self._case(s)
            if case is None:
                return
            try:
                with s.begin_nested():
                    call(s, case)
            except ApiError:
                pass  # refused with a reason: nothing changed (checked below)

    # -- what must hold ----------------------------------------------------------------------
    def _case(self, s) -> ReturnCase | None:
        return s.scalar(select(ReturnCase).where(ReturnCase.merchant_id == self.w["merchant_id"]))

    @invariant()
    def a_known_status_that_never_goes_back_on_its_own(self):
        with self.db.session(readonly=True) as s:
            case = self._case(s)
            if case is None:
                return
            assert case.status in RETURN_STATUSES
            before, self.status = self.status, case.status
            if before and RANK[case.status] < RANK[before]:
                assert case.status == self.said, (before, case.status, self.said)
                assert before not in HUB_PROGRESS or case.status in DECISIONS

    @invariant()
    def progress_needs_evidence(self):
        with self.db.session(readonly=True) as s:
            case = self._case(s)
            if case is None or case.status not in ("received", "inspected"):
                return
            inspections = list(s.scalars(select(Inspection).where(
                Inspection.return_case_id == case.id)))
            delivered = s.scalar(select(Shipment.id).where(
                Shipment.return_case_id == case.id, Shipment.status == "delivered"))
            assert inspections or delivered is not None
            if case.status == "inspected":
                assert any(i.grade for i in inspections)

    @invariant()
    def money_moves_once(self):
        with self.db.session(readonly=True) as s:
            live = s.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.merchant_id == self.w["merchant_id"],
                OutboxMessage.entity == "return_case", OutboxMessage.topic.in_(MONEY),
                OutboxMessage.status.in_(("pending", "sent"))))
            assert live <= 1

    @invariant()
    def one_second_dispatch(self):
        with self.db.session(readonly=True) as s:
            live = s.scalar(select(func.count(Fulfilment.id)).where(
                Fulfilment.merchant_id == self.w["merchant_id"],
                Fulfilment.purpose != "order",
                Fulfilment.status.not_in(("rejected", "cancelled"))))
            assert live <= 1

    @invariant()
    def records_only_grow(self):
        with self.db.session(readonly=True) as s:
            for model in GROWING:
                now = s.scalar(select(func.count(model.id)).where(
                    model.merchant_id == self.w["merchant_id"]))
                assert now >= self.counts[model], model.__name__
                self.counts[model] = now


@pytest.mark.fuzz
def test_a_return_never_reaches_an_impossible_state(app, database, fake_connectors):  # noqa: F811
    run_state_machine_as_test(lambda: ReturnLife(database),
                              settings=settings(bounded(25), stateful_step_count=12))
