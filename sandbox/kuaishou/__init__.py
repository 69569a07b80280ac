"""A faithful simulator of a Kuaishou-style shop platform, served as a real HTTP server.

It reproduces what ``/work/shared/reference/kuaishou.md`` documents: OAuth (codes,
rotating refresh tokens, revocation), the signed API gateway (MD5 / HMAC_SHA256), the
order and after-sale APIs with their window, cursor and business-error rules, per-app
and per-user QPS limits, and AES-encrypted message push with the 5/10/20/30/60-minute
retry schedule (scalable). A control API under ``/_sandbox`` sets the world up and reads
back what the hub did. It imports nothing of the hub.

    from sandbox.kuaishou import serve
    server, base_url = serve(port=0, config={"pushTimeFactor": 0.001})
    ...                                  # requests against base_url
    server.stop()

From a shell: ``python -m sandbox.kuaishou --port 8091 --demo``. See sandbox/README.md.
"""
from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from . import scenario
from .app import create_app
from .state import State

__all__ = ["SandboxServer", "create_app", "serve", "stop"]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class SandboxServer:
    """A running simulator: ``base_url``, ``state`` (for white-box assertions), ``stop()``."""

    def __init__(self, http_server, thread: threading.Thread, app, base_url: str):
        self.http_server, self.thread, self.app, self.base_url = http_server, thread, app, base_url
        self.state: State = app.extensions["ks_sandbox"]
        self._stopped = False

    @property
    def port(self) -> int:
        return self.http_server.port

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        scenario.stop_current(self.app)
        self.http_server.shutdown()
        self.http_server.server_close()
        self.thread.join(timeout=5)
        self.state.push.stop()


def serve(port: int = 0, host: str = "127.0.0.1", config: dict | None = None,
          quiet: bool = True) -> tuple[SandboxServer, str]:
    """Start the simulator in a background thread (werkzeug, threaded); answer
    ``(server, base_url)``. ``port=0`` picks a free port."""
    app = create_app(config)
    http_server = make_server(host, port, app, threaded=True,
                              request_handler=_QuietHandler if quiet else None)
    thread = threading.Thread(target=http_server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="ks-sandbox-http", daemon=True)
    thread.start()
    base_url = f"http://{host}:{http_server.port}"
    return SandboxServer(http_server, thread, app, base_url), base_url


def stop(server: SandboxServer) -> None:
    server.stop()

