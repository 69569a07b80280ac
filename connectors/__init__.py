"""Connector plugins: one package per outside system (transport only).

See ``connectors.base`` for the contract and ``connectors.registry`` for discovery.
"""
