"""Generic shop: any shop system or ERP that pushes orders and after-sales to the hub in
the hub's own JSON format, signed per the Standard Webhooks spec.

It is the reference connector of the pipeline: a merchant on a platform the hub has no
connector for yet can still feed it, and the tests drive the inbox with it.
"""
from connectors.generic_shop.connector import GenericShop

__all__ = ["GenericShop"]
