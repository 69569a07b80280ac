"""The merchant REST API under ``/api/v1`` (``hub.web.kit``'s blueprint), views grouped
by concern; importing the package registers the routes."""
from hub.web.api import (  # noqa: F401 (registers the routes)
    admin, alerts, case_file, claims, inbox_ops, inspections, ledger, liability, outbox_ops,
    policy, records, reasons, return_addresses, return_labels, returns_ops, shops,
    spreadsheets, statements, tracking_ops,
)
from hub.web.kit import api_blueprint  # noqa: F401
