"""Finding connectors: the built-ins plus every entry point in group ``hub.connectors``.

    from connectors import registry
    registry.get("kuaishou")      # the connector class, or UnknownConnector
    registry.all()                # name -> class, sorted by name

An entry point names a ``Connector`` subclass (``pkg.module:MyConnector``). A plugin that
fails to import is logged and skipped; it never stops the hub from starting.
"""
from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from connectors.base import KINDS, Connector

GROUP = "hub.connectors"
BUILTINS: dict[str, str] = {
    "generic_shop": "connectors.generic_shop:GenericShop",
    "kuaishou": "connectors.kuaishou:Kuaishou",
    "kuaidi100": "connectors.kuaidi100:Kuaidi100",
    "aftership": "connectors.aftership:AfterShip",
    "track17": "connectors.track17:Track17",
    "hub_webhook": "connectors.hub_webhook:HubWebhook",
    "kuaishou_dropship": "connectors.kuaishou_dropship:KuaishouDropship",
    "cj": "connectors.cj:CJ",
    "spreadsheet": "connectors.spreadsheet:Spreadsheet",
}
log = logging.getLogger(__name__)
_cache: dict[str, type[Connector]] | None = None


class UnknownConnector(LookupError):
    pass


def _load(target: str) -> type[Connector]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _discover() -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    sources = [(name, target) for name, target in BUILTINS.items()]
    sources += [(ep.name, ep.value) for ep in entry_points(group=GROUP)]
    for name, target in sources:
        try:
            cls = _load(target)
        except Exception as e:  # a broken plugin must not take the hub down
            log.error("connector plugin failed to load", extra={"connector": name,
                                                                "error": repr(e)})
            continue
        if not (isinstance(cls, type) and issubclass(cls, Connector)) or cls.kind not in KINDS:
            log.error("not a connector class", extra={"connector": name, "target": target})
            continue
        found.setdefault(cls.name, cls)
    return dict(sorted(found.items()))


def all() -> dict[str, type[Connector]]:  # noqa: A001 (registry.all() reads well)
    global _cache
    if _cache is None:
        _cache = _discover()
    return _cache


def get(name: str) -> type[Connector]:
    try:
        return all()[name]
    except KeyError:
        raise UnknownConnector(
            f"no connector named {name!r}; installed: {', '.join(all()) or 'none'}"
        ) from None


def reload() -> None:
    """Forget the cache (after installing a plugin in a running process, or in tests)."""
    global _cache
    _cache = None
