"""Kuaishou (快手小店) open platform: signed form-encoded API calls, OAuth per shop,
cursor polling and AES-encrypted message push. See README.md beside this file."""
from connectors.kuaishou.connector import Kuaishou

__all__ = ["Kuaishou"]
