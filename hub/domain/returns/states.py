"""The return case's state machine: the platform's word and the hub's own progress.

A return case never goes backwards. Its statuses are ordered by how far the goods and
the decision have got (DESIGN.md §5)::

    requested < approved = rejected < awaiting_return < return_in_transit
              < received < inspected < refunded = resolved = closed

Two kinds of event move it:

* ``platform:<status>`` — the platform's record says ``<status>``. It applies from
  every state, except that ``return_in_transit``, ``received`` and ``inspected`` (progress
  the hub records itself, from the return parcel's tracking and the supplier's receipt,
  sometimes before the platform's update about an earlier step is processed) are kept
  when the platform's status ranks lower: the move leads back to the same state, and the
  platform's raw status is still recorded. Decisions (``rejected``, ``closed``,
  ``refunded``, ``resolved``) always apply. A status outside that progress (e.g.
  ``rejected`` → ``requested`` when the buyer changes a refused request) is the
  platform's to change.
* the hub's own: ``parcel_moving`` (the buyer's parcel was picked up or is on its way),
  ``parcel_delivered`` (it reached the supplier or warehouse), ``receive`` and
  ``inspect`` (the receiver's report, without and with a grade). Elsewhere they are
  illegal and refused.
"""
from __future__ import annotations

from hub.core.states import Machine
from hub.models.returns import RETURN_STATUSES

RANK = {"requested": 0, "approved": 1, "rejected": 1, "awaiting_return": 2,
        "return_in_transit": 3, "received": 4, "inspected": 5,
        "refunded": 6, "resolved": 6, "closed": 6}
HUB_PROGRESS = ("return_in_transit", "received", "inspected")
DECISIONS = ("rejected", "closed", "refunded", "resolved")
BEFORE_RECEIPT = ("approved", "awaiting_return", "return_in_transit")

HUB_MOVES = {
    "parcel_moving": {"awaiting_return": "return_in_transit"},
    "parcel_delivered": {"awaiting_return": "received", "return_in_transit": "received"},
    "receive": dict.fromkeys(BEFORE_RECEIPT, "received"),
    "inspect": dict.fromkeys(BEFORE_RECEIPT + ("received",), "inspected"),
}


def _platform_move(stored: str, incoming: str) -> str:
    if stored in HUB_PROGRESS and incoming not in DECISIONS and RANK[incoming] < RANK[stored]:
        return stored
    return incoming


RETURN_CASE = Machine("return case", {
    state: {**{f"platform:{s}": _platform_move(state, s) for s in RETURN_STATUSES},
            **{event: moves[state] for event, moves in HUB_MOVES.items() if state in moves}}
    for state in RETURN_STATUSES})


def platform_status(stored: str | None, incoming: str) -> str:
    """The status a case keeps when the platform says ``incoming`` (a new case: it); a
    status outside the vocabulary never undoes the hub's progress."""
    if stored in RANK and incoming in RANK:
        return RETURN_CASE.next(stored, f"platform:{incoming}")
    return stored if stored in HUB_PROGRESS else incoming
