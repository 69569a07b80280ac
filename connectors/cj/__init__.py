"""CJdropshipping-style supplier API (API 2.0): orders created at CJ, its signed webhooks
for orders and logistics, disputes as the claim channel. See README.md beside this file."""
from connectors.cj.connector import CJ

__all__ = ["CJ"]
