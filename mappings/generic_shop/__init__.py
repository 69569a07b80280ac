"""Generic shop mappings: hub JSON v1 records (orders, returns, tracking) to the common
model. Pure: ``map_record(entity, payload, default_currency)`` returns ``hub.values``
types or raises ``MappingError``. See ``mapper`` for the rules and ``schemas`` for what a
valid record is."""
from mappings.generic_shop.mapper import (
    MappingError, map_order, map_record, map_return, map_tracking,
)

__all__ = ["MappingError", "map_record", "map_order", "map_return", "map_tracking"]
