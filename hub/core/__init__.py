"""The hub's foundations, with no domain knowledge: settings (``config``), the database
(``db``), encryption at rest (``crypto``), logging with scrubbing (``logs``), API errors
(``errors``), the migrations runner (``migrate``) and commit-time wake-ups (``wakeup``)."""
