"""Dropship Hub: connects shop platforms, dropship suppliers and couriers.

The package is a house of rooms (``ARCHITECTURE.md``): ``core`` < ``models`` <
``pipeline`` < ``domain`` < ``parties`` < ``web`` | ``cli``. Importing ``hub`` itself
loads nothing, so ``hub.values`` (what the mappers produce) needs neither Flask nor
SQLAlchemy. The app factory is ``hub.web.app.create_app``.
"""
