"""Declaration of the generic shop connector (see the package docstring)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from connectors.base import Connector


class GenericShopConfig(Schema):
    class Meta:
        unknown = RAISE

    webhook_secret = fields.String(
        required=True, validate=validate.Regexp(r"^whsec_[A-Za-z0-9+/=]{24,}$"),
        metadata={"secret": True,
                  "description": "Standard Webhooks secret, whsec_ + Base64 of 24-64 bytes"})
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))


class GenericShop(Connector):
    name = "generic_shop"
    kind = "platform"
    title = "Generic shop (hub JSON over Standard Webhooks)"
    capabilities = ("webhook_orders", "webhook_returns")
    config_schema = GenericShopConfig
