"""Wiring (temporary): imports the modules whose listeners register on import."""


def wire() -> None:
    from hub.domain.fulfilment import allocation, stopship  # noqa: F401
    from hub.domain.returns import flow  # noqa: F401
    from hub.domain.pushes import platform_actions, supplier_notices  # noqa: F401
    from hub.domain.tracking import effects, shipments  # noqa: F401
