"""The common model. Importing this package registers every table on ``Base.metadata``."""
from hub.core import ids  # noqa: F401 (rows get their ids when added: hub.core.ids)
from hub.core.db import Base
from hub.models.alerts import Alert
from hub.models.analytics import RegionDay, ReturnDay, RollupMark, SalesDay, SupplierDay
from hub.models.finance import (
    ReconciliationItem, Statement, StatementLine, StatementProfile, SupplierFile, SupplierLine,
)
from hub.models.ledger import LedgerEntry
from hub.models.liability import Claim, LiabilityDecision
from hub.models.logistics import Shipment, TrackingEvent
from hub.models.orders import Fulfilment, FulfilmentLine, Order, OrderLine
from hub.models.parties import Account, Binding, SkuMapping, Supplier
from hub.models.pipeline import (
    DeliveryAttempt, InboxEvent, OutboxMessage, PollState, QuarantinedRequest,
)
from hub.models.policy import PolicyDecision, Product, ReturnPolicy
from hub.models.returns import (
    Inspection, ReasonCorrection, ReturnAddress, ReturnCase, ReturnLine, StockMovement,
)
from hub.models.tenancy import ApiToken, AuditEntry, Merchant, User, UserSession

__all__ = [
    "Base", "Merchant", "ApiToken", "AuditEntry", "Account", "Supplier", "SkuMapping",
    "Binding", "Order", "OrderLine", "Fulfilment", "FulfilmentLine", "Shipment",
    "TrackingEvent", "ReturnCase", "ReturnLine", "InboxEvent", "QuarantinedRequest",
    "OutboxMessage", "DeliveryAttempt", "PollState", "Alert", "Inspection", "ReturnAddress",
    "ReasonCorrection", "StockMovement", "ReturnPolicy", "PolicyDecision", "Product",
    "LedgerEntry", "LiabilityDecision", "Claim", "StatementProfile", "Statement",
    "StatementLine", "SupplierFile", "SupplierLine", "ReconciliationItem", "User",
    "UserSession", "SalesDay", "ReturnDay", "RegionDay", "SupplierDay", "RollupMark",
]
