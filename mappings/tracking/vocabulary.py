"""The normalised parcel-status vocabulary every courier code maps to.

``STATUSES`` is the same tuple as ``hub.models.logistics.SHIPMENT_STATUSES`` (a test
keeps them equal; ``mappings`` may not import the models). ``FINAL`` states end a
parcel's journey and are left only by the transitions ``machine.StatusMachine``
documents; ``RANK`` orders statuses along the journey and breaks ties between events
stamped with the same time (the further-along one is taken as the later).
"""
from __future__ import annotations

STATUSES = (
    "pending", "info_received", "picked_up", "in_transit", "in_customs", "out_for_delivery",
    "available_for_pickup", "delivered", "delivery_failed", "refused", "returning",
    "returned", "intercepted", "exception", "expired", "cancelled", "unknown",
)
UNKNOWN = "unknown"

# A parcel in one of these is done; ``expired`` is soft (a new real scan revives it).
FINAL = frozenset({"delivered", "returned", "cancelled", "expired"})

RANK = {
    "unknown": -1,
    "pending": 0,
    "expired": 1,             # soft-final: anything newer and real outranks it
    "info_received": 1,
    "picked_up": 2,
    "in_transit": 3,
    "in_customs": 3,
    "exception": 3,
    "out_for_delivery": 4,
    "available_for_pickup": 4,
    "delivery_failed": 5,
    "refused": 6,
    "intercepted": 6,
    "delivered": 7,
    "returning": 8,
    "cancelled": 9,
    "returned": 9,
}

assert set(RANK) == set(STATUSES)
