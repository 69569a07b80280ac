"""The business rooms, one package per concept (``ARCHITECTURE.md`` lists their layers,
events and service functions)."""
