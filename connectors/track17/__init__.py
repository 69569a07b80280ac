"""17TRACK API v2: signed tracking webhooks (main/sub status) and number registration.
See README.md beside this file."""
from connectors.track17.connector import Track17, Track17Config, signature

__all__ = ["Track17", "Track17Config", "signature"]
