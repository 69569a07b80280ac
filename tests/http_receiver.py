"""A real local HTTP server standing in for a shop that receives the hub's pushes.

It records every request (path, ``Idempotency-Key``, JSON body) before answering, can be
made slow (``delay_s``, spent after recording) or made to hold request number ``hold_at``
unanswered until ``gate`` is set — so a client killed meanwhile leaves a request the
receiver saw but the hub never recorded — and dedups by idempotency key the
way a well-behaved receiver does: a repeated key is answered with the first result and
changes nothing.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, delay_s: float = 0.0, status: int = 201, hold_at: int | None = None):
        self.delay_s, self.status, self.hold_at = delay_s, status, hold_at
        self.gate = threading.Event()       # request number ``hold_at`` waits for it
        self.requests: list[dict] = []      # every request, duplicates included
        self.results: dict[str, dict] = {}  # idempotency key -> first answer
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key")
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "key": key, "body": body})
                    result = receiver.results.setdefault(
                        key, {"id": f"remote-{len(receiver.results) + 1}"})
                    held = len(receiver.requests) == receiver.hold_at
                if held:
                    receiver.gate.wait(30)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                out = json.dumps(result).encode()
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller died mid-request (the crash test kills it)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def key_counts(self) -> Counter:
        with self.lock:
            return Counter(r["key"] for r in self.requests)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
