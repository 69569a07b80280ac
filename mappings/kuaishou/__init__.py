"""Kuaishou (快手小店) payloads → the hub's common model, and the code tables behind them.

    from mappings.kuaishou import map_order, map_refund, carrier_for_code, express_code_for

Pure: no network, no database, nothing of the hub beyond ``hub.values``. Tables are data
files beside this package (see ``tables`` for how a merchant extends them).
"""
from mappings.kuaishou.carriers import Carrier, UnknownCarrier, carrier_for_code, express_code_for
from mappings.kuaishou.common import MappingError
from mappings.kuaishou.orders import map_order
from mappings.kuaishou.returns import map_refund

__all__ = ["Carrier", "MappingError", "UnknownCarrier", "carrier_for_code", "express_code_for",
           "map_order", "map_refund"]
