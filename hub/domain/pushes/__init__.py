"""Pushes: what the hub tells the parties, always through the outbox.

    platform_actions  shipments and after-sale decisions to the shop platform
    supplier_notices  order dispatches, stop-ships, return notices to a supplier's channel

Every room above may call them (they are the lowest domain room); the outcome of each
push comes back as ``MessageSettled``.
"""
