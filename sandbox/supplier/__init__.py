"""A dropship supplier (一件代发) simulator served as a real HTTP server: it receives the
hub's signed webhooks, verifies them itself, and answers through the hub's supplier REST
API with its token — accepting orders, shipping them with a tracking number after a
delay, answering stop-ship requests by its progress, confirming returns with a photo,
acknowledging claims and accepting the small ones, disputing the large ones —
and acknowledges every notice. It imports nothing of the hub, the connectors, the
mappings or the jobs.

    server, base_url = serve(port=0, hub_url=..., token=..., secrets=["whsec_..."])
    # the hub's hub_webhook account: endpoint_url = base_url + "/webhook"
    server.supplier          # the state, for white-box asserts
    server.stop()            # (or server.shutdown())

    python -m sandbox.supplier --port 8093 --hub-url http://127.0.0.1:8080 --token hub_...

See ``app.py`` for the endpoints, ``state.py`` for the configuration and misbehaviour,
``behaviour.py`` for what it does, and sandbox/README.md.
"""
from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox.supplier.app import SupplierApp
from sandbox.supplier.state import SupplierState


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def make_app(**config) -> SupplierApp:
    return SupplierApp(SupplierState(**config))


def serve(port: int = 0, hub_url: str | None = None, token: str | None = None,
          secrets=(), host: str = "127.0.0.1", **config):
    """Start the supplier in a background thread: ``(server, base_url)``."""
    app = make_app(hub_url=hub_url, token=token, secrets=list(secrets), **config)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    server.supplier, server.app = app.state, app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="supplier-sandbox", daemon=True)
    thread.start()
    stop_serving = server.shutdown

    def shutdown() -> None:
        stop_serving()
        thread.join(timeout=10)
        app.brain.worker.stop()
        server.server_close()

    server.shutdown = server.stop = shutdown
    return server, f"http://{host}:{server.server_port}"


__all__ = ["SupplierApp", "SupplierState", "make_app", "serve"]
