"""Helpers for the Kuaishou sandbox tests: a signed API client, a push receiver, waiting.

``Platform`` wraps one running sandbox (control calls and a ready app + shop + tokens);
``Receiver`` is a real local HTTP server standing in for the hub's push endpoint, with
scripted answers, recording every body with its arrival time.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from sandbox.kuaishou.signing import compute_sign

POST_APIS = {"open.seller.order.goods.deliver", "open.seller.order.logistics.update",
             "open.seller.order.refund.approve", "open.seller.order.refund.returngoods.approve",
             "open.seller.order.refund.confirm.receipt", "open.refund.reject"}
MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


class Platform:
    def __init__(self, base_url: str):
        self.base = base_url
        self.http = requests.Session()
        self.app_key = self.sign_secret = self.token = None
        self.seller_id = None

    def close(self):
        self.http.close()

    # ---- control API -------------------------------------------------------------------
    def ctl(self, verb: str, path: str, expect: int | None = None, **json_body):
        resp = self.http.request(verb, f"{self.base}/_sandbox{path}",
                                 json=json_body if verb != "GET" else None,
                                 params=json_body if verb == "GET" else None, timeout=10)
        if expect is not None:
            assert resp.status_code == expect, resp.text
        return resp.json()

    def setup(self, push_url=None, scopes=None, **app_fields) -> "Platform":
        app = self.ctl("POST", "/apps", 201, messageKey=MESSAGE_KEY, pushUrl=push_url, **app_fields)
        shop = self.ctl("POST", "/shops", 201)
        self.app_key, self.sign_secret = app["appKey"], app["signSecret"]
        self.app_secret = app["appSecret"]
        self.seller_id = shop["sellerId"]
        body = {"appKey": self.app_key}
        if scopes:
            body["scopes"] = scopes
        tokens = self.ctl("POST", f"/shops/{self.seller_id}/authorize", 200, **body)
        self.token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        return self

    def order(self, expect=201, **opts) -> dict:
        return self.ctl("POST", "/orders", expect, **opts)

    def now_ms(self) -> int:
        return self.ctl("GET", "/clock")["nowMs"]

    def advance(self, **units):
        return self.ctl("POST", "/clock/advance", 200, **units)

    # ---- signed API calls --------------------------------------------------------------
    def fields(self, method: str, param: dict | str, *, token=None, sign_method="HMAC_SHA256",
               timestamp=None, sign_secret=None, app_key=None) -> dict:
        param_s = param if isinstance(param, str) else json.dumps(param, separators=(",", ":"),
                                                                  ensure_ascii=False)
        fields = {"appkey": app_key or self.app_key, "method": method, "version": "1",
                  "param": param_s, "access_token": token or self.token,
                  "timestamp": str(timestamp or int(time.time() * 1000)), "signMethod": sign_method}
        fields["sign"] = compute_sign(fields, sign_secret or self.sign_secret, sign_method)
        return fields

    def send(self, method: str, fields: dict, verb: str | None = None) -> requests.Response:
        verb = verb or ("POST" if method in POST_APIS else "GET")
        url = f"{self.base}/{method.replace('.', '/')}"
        if verb == "GET":
            return self.http.get(url, params=fields, timeout=10)
        return self.http.post(url, data=fields, timeout=10)

    def call(self, method: str, param: dict, **kw) -> dict:
        verb = kw.pop("verb", None)
        return self.send(method, self.fields(method, param, **kw), verb).json()


class Receiver:
    """The hub's push endpoint: records bodies; answers from ``script`` then ``default``."""

    def __init__(self, script=None, default=(200, '{"result":1}', 0.0)):
        self.script = list(script or [])       # [(status, body, delay_s), ...]
        self.default = default
        self.hits: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.hits.append({"at": time.monotonic(), "body": raw.decode("utf-8"),
                                          "contentType": self.headers.get("Content-Type")})
                    status, text, delay = receiver.script.pop(0) if receiver.script else receiver.default
                if delay:
                    time.sleep(delay)
                out = text.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:      # the platform gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/kuaishou"

    def bodies(self) -> list[str]:
        with self.lock:
            return [h["body"] for h in self.hits]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
