"""The connector contract.

A connector is a class that declares what it is and what it can do:

    class MyShop(Connector):
        name = "myshop"
        kind = "platform"                  # platform | supplier | courier
        capabilities = ("webhook_orders", "poll_orders", "push_shipment")
        config_schema = MyShopConfig       # a marshmallow Schema; secret fields carry
                                           # metadata={"secret": True}

It is registered as a built-in (``connectors.registry.BUILTINS``) or through the
entry-point group ``hub.connectors`` by any installed package, with no edit to ``hub/``.
"""
from __future__ import annotations

from typing import ClassVar

from apispec.ext.marshmallow import OpenAPIConverter
from marshmallow import EXCLUDE, Schema, ValidationError

KINDS = ("platform", "supplier", "courier")


class ConfigInvalid(ValueError):
    def __init__(self, messages):
        super().__init__(f"invalid connector config: {messages}")
        self.messages = messages


class Connector:
    name: ClassVar[str]
    kind: ClassVar[str]
    title: ClassVar[str] = ""
    capabilities: ClassVar[tuple[str, ...]] = ()
    config_schema: ClassVar[type[Schema]] = Schema

    @classmethod
    def validate_config(cls, config: dict) -> dict:
        """Load a config through the schema; unknown keys are an error, not dropped."""
        try:
            return cls.config_schema().load(config or {})
        except ValidationError as e:
            raise ConfigInvalid(e.messages) from None

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [n for n, f in cls.config_schema().fields.items() if f.metadata.get("secret")]

    @classmethod
    def config_json_schema(cls) -> dict:
        converter = OpenAPIConverter("3.0.3", lambda s: None, None)
        schema = converter.schema2jsonschema(cls.config_schema)
        for name in cls.secret_fields():
            schema["properties"][name]["writeOnly"] = True
        schema["additionalProperties"] = cls.config_schema().unknown == EXCLUDE
        return schema

    @classmethod
    def describe(cls) -> dict:
        return {"name": cls.name, "kind": cls.kind, "title": cls.title or cls.name,
                "capabilities": list(cls.capabilities),
                "config_schema": cls.config_json_schema()}
