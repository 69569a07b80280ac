"""The name landed migrations import their column types by (``import hub.db``); migrations
are append-only, so this name stays. Code imports ``hub.core.db``."""
from hub.core.db import EncryptedJSON, UTCDateTime  # noqa: F401
