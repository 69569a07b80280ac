"""AfterShip Tracking: signed tracking webhooks (tag/subtag statuses). See README.md."""
from connectors.aftership.connector import AfterShip, AfterShipConfig, signature

__all__ = ["AfterShip", "AfterShipConfig", "signature"]
