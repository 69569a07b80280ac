"""Everything served over HTTP: the app factory (``app``), the merchant API (``api``), the
supplier API (``supplier_api``), the kit both build on (``kit``), the console, the docs
pages, the webhook receiver and the health check."""
