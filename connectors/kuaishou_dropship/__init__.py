"""Kuaishou 厂家代发 (``open.dropshipping.*``): the platform's own merchant → factory
channel. Orders are allocated to a factory, a stop-ship cancels the allocation, and the
factory's waybill is polled back. See README.md beside this file."""
from connectors.kuaishou_dropship.connector import KuaishouDropship

__all__ = ["KuaishouDropship"]
