"""A courier simulator (Kuaidi100-style) served as a real HTTP server: subscribe, signed
pushes along a per-parcel timeline with retries, the rate-limited real-time query,
interception with its result by callback, return pickups (商家寄件) that issue a
waybill, and a ``/_sandbox/...`` control API. It imports nothing of the hub, the
connectors or the mappings.

    server, base_url = serve(port=0)        # tests: a werkzeug server in a thread
    ...
    server.shutdown()                        # (or server.stop()) stops server and push worker

    python -m sandbox.courier --port 8765    # the demo

See ``app.py`` for the endpoints and sandbox/README.md for how to drive it.
"""
from __future__ import annotations

import threading
from datetime import datetime

from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox.courier.app import CourierApp
from sandbox.courier.core import Sandbox


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # the tests and demo do not need access logs
        pass


def make_app(retry_interval_s: float = 2.0, start: datetime | None = None,
             push_timeout_s: float = 20.0) -> CourierApp:
    return CourierApp(Sandbox(retry_interval_s=retry_interval_s, start=start,
                              push_timeout_s=push_timeout_s))


def serve(port: int = 0, host: str = "127.0.0.1", *, retry_interval_s: float = 0.2,
          start: datetime | None = None, push_timeout_s: float = 5.0):
    """Start the sandbox in a background thread: ``(server, base_url)``. The server's
    ``sandbox`` attribute is the state; ``server.shutdown()`` stops everything."""
    app = make_app(retry_interval_s, start, push_timeout_s)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    server.sandbox = app.sandbox
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="courier-sandbox", daemon=True)
    thread.start()
    stop_serving = server.shutdown

    def shutdown() -> None:
        stop_serving()
        thread.join(timeout=10)
        app.sandbox.close()
        server.server_close()

    server.shutdown = server.stop = shutdown
    return server, f"http://{host}:{server.server_port}"


__all__ = ["Sandbox", "make_app", "serve"]
