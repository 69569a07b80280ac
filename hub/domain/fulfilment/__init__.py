"""Fulfilment: everything between the hub and the supplier about one fulfilment.

    states      the state machine (requested → accepted | rejected → shipped;
                cancel_requested → cancelled | cancel_rejected) and atomic moves
    allocation  orders to suppliers by SKU mapping, and the dispatch
    shipping    tracking numbers handed back: validated, registered, pushed
    stopship    stop-ship requests, answers and interception
    answers     accept, reject, ship (the answers of every channel)
    updates     a channel's answer as values (``FulfilmentUpdateValues``)
    ownership   what is a supplier's own (fulfilments, return lines, parcels), as SQL
    payables    the goods' contract cost owed to the supplier once they ship (the ledger)

The service functions other rooms and the web call are these names, imported from the
package: ``from hub.domain import fulfilment``.
"""
from hub.domain.fulfilment.allocation import allocate, dispatch_again, dispatch_lines, handle_order
from hub.domain.fulfilment.answers import accept, reject, submit_tracking
from hub.domain.fulfilment.shipping import (
    correct_tracking, normalise_carrier, outbound_shipment, record_shipment, validate_tracking,
)
from hub.domain.fulfilment.stopship import (
    APPROVAL_ACTION, answer_stop_ship, fulfilments_for, request_stop, stop_order,
    sweep_interceptions,
)

__all__ = ["allocate", "dispatch_again", "dispatch_lines", "handle_order", "accept", "reject", "submit_tracking",
           "correct_tracking", "normalise_carrier", "outbound_shipment", "record_shipment", "validate_tracking",
           "APPROVAL_ACTION", "answer_stop_ship", "fulfilments_for", "request_stop",
           "stop_order", "sweep_interceptions"]
