"""Courier tracking: provider payloads → the hub's normalised tracking values. Pure: no
I/O, nothing of the hub but ``hub.values``.

* ``vocabulary`` — the status vocabulary, final states and journey order;
* ``codes`` + ``*_statuses.json`` / ``kuaidi100_states.json`` — every provider code
  table as data (sub-code beats main code; unknown codes kept raw and flagged);
* ``carriers`` + ``carriers.json`` — normalised carrier codes (``sf``, ``zto``...) and
  each provider's codes for them;
* ``machine`` — ``progress(current_status, events, since)``: event-time ordering, final
  states left only by documented transitions;
* ``monitoring`` — provider monitoring state (Kuaidi100 polling/shutdown/abort) and the
  re-subscribe plan;
* ``kuaidi100`` / ``aftership`` / ``track17`` — the mappers.

For ``hub.domain.tracking.records``: apply a record's events with
``progress(shipment.status, values.events, since=shipment.last_event_at,
current_raw=shipment.raw_status)`` and store its ``status``, ``raw_status`` and ``at``.
"""
from mappings.tracking.build import MappingError
from mappings.tracking.carriers import normalise as normalise_carrier
from mappings.tracking.carriers import provider_code, requires_phone
from mappings.tracking.machine import Progress, StatusMachine, progress
from mappings.tracking.monitoring import (
    Monitoring, ResubscribePlan, kuaidi100_monitoring, monitoring_from_values, resubscribe_plan,
)
from mappings.tracking.vocabulary import FINAL, STATUSES

__all__ = [
    "FINAL", "STATUSES", "MappingError", "Monitoring", "Progress", "ResubscribePlan",
    "StatusMachine", "kuaidi100_monitoring", "monitoring_from_values", "normalise_carrier",
    "progress",
    "provider_code", "requires_phone", "resubscribe_plan",
]
