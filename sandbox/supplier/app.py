"""The sandbox supplier's HTTP surface (a plain WSGI app on werkzeug).

    POST /webhook                        the hub's webhooks (Standard Webhooks signatures)

Control API (JSON in, JSON out):
    GET  /_sandbox/health                {"ok": true}
    GET  /_sandbox/config                the configuration (state.py lists every key)
    PUT  /_sandbox/config                change some keys: {"down": true, "slow_s": 2, ...}
    POST /_sandbox/reset                 forget everything; optional config changes
    GET  /_sandbox/received[?type=&webhook_id=&verified=&duplicate=]   every delivery
    GET  /_sandbox/actions[?action=&fulfilment_id=&return_case_id=&claim_id=&ok=] every call
    GET  /_sandbox/orders, /_sandbox/returns, /_sandbox/claims, /_sandbox/statements
                                                                what it believes about each
    GET  /_sandbox/pending               scheduled actions
    POST /_sandbox/flush                 {"timeout"?: s}: wait until nothing is due now
    POST /_sandbox/orders/<fulfilment_id>/ship      ship now (a tracking number, handed back)
    POST /_sandbox/orders/<fulfilment_id>/report    hand back the tracking of a shipped order
    POST /_sandbox/returns/<return_case_id>/receive confirm receipt now

A delivery is recorded the moment it arrives (``received_at``, ``received_epoch``), then
the misbehaviour applies (``slow_s``, ``down`` → 503), then the signature is checked
(401 with the reason when it fails), then the body (400 when it is not the hub envelope).
A repeated ``webhook-id`` is answered the same and, with ``dedupe`` on, not acted on again.
"""
from __future__ import annotations

import json
import time

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.supplier.behaviour import Brain
from sandbox.supplier.signing import BadSignature, verify
from sandbox.supplier.state import ConfigError, SupplierState

URLS = Map([
    Rule("/webhook", endpoint="webhook", methods=["POST"]),
    Rule("/_sandbox/health", endpoint="health", methods=["GET"]),
    Rule("/_sandbox/config", endpoint="config", methods=["GET", "PUT", "PATCH"]),
    Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
    Rule("/_sandbox/received", endpoint="received", methods=["GET"]),
    Rule("/_sandbox/actions", endpoint="actions", methods=["GET"]),
    Rule("/_sandbox/orders", endpoint="orders", methods=["GET"]),
    Rule("/_sandbox/returns", endpoint="returns", methods=["GET"]),
    Rule("/_sandbox/claims", endpoint="claims", methods=["GET"]),
    Rule("/_sandbox/statements", endpoint="statements", methods=["GET"]),
    Rule("/_sandbox/pending", endpoint="pending", methods=["GET"]),
    Rule("/_sandbox/flush", endpoint="flush", methods=["POST"]),
    Rule("/_sandbox/orders/<int:fid>/ship", endpoint="ship", methods=["POST"]),
    Rule("/_sandbox/orders/<int:fid>/report", endpoint="report", methods=["POST"]),
    Rule("/_sandbox/returns/<int:rid>/receive", endpoint="receive", methods=["POST"]),
])
GARBAGE = b"\x00\x9f<html><body>OK?? \xff\xfe not json"


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    content_type="application/json")


def _body(request: Request) -> dict:
    if not request.get_data():
        return {}
    try:
        data = json.loads(request.get_data())
    except ValueError:
        raise ConfigError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("the body must be a JSON object")
    return data


class SupplierApp:
    def __init__(self, state: SupplierState):
        self.state = state
        self.brain = Brain(state)

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except ConfigError as e:
            response = _json({"error": str(e)}, 400)
        except NotFound:
            response = _json({"error": "not found"}, 404)
        except HTTPException as e:
            response = _json({"error": e.description}, e.code or 500)
        return response(environ, start_response)

    # -- the hub's webhooks ----------------------------------------------------------------
    def on_webhook(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        entry = self.state.arrived(headers)
        body = request.get_data()
        with self.state.lock:
            config = dict(self.state.config)
        if config["slow_s"]:
            time.sleep(config["slow_s"])
        if config["down"]:
            entry["answered"] = 503
            return _json({"error": "supplier is down (sandbox misbehaviour)"}, 503)
        try:
            webhook_id = verify(config["secrets"], headers, body, config["tolerance_s"])
        except BadSignature as e:
            entry.update(verified=False, error=str(e), answered=401)
            return _json({"error": f"bad signature: {e}"}, 401)
        entry["verified"] = True
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            envelope = None
        if not (isinstance(envelope, dict) and isinstance(envelope.get("type"), str)
                and isinstance(envelope.get("data"), dict)):
            entry.update(error="not the hub envelope", answered=400)
            return _json({"error": 'expected {"type", "id", "created_at", "data"}'}, 400)
        entry.update(type=envelope["type"], data=envelope["data"],
                     created_at=envelope.get("created_at"))
        first = self.state.first_time(webhook_id)
        entry["duplicate"] = not first
        if first or not config["dedupe"]:
            self.brain.handle(envelope["type"], envelope["data"], webhook_id)
        entry["answered"] = config["answer_status"]
        if config["garbage"]:
            return Response(GARBAGE, status=config["answer_status"], content_type="text/html")
        return _json({"ok": True, "duplicate": not first}, config["answer_status"])

    # -- control ------------------------------------------------------------------------------
    def on_health(self, request):
        return _json({"ok": True})

    def on_config(self, request):
        if request.method == "GET":
            with self.state.lock:
                return _json(dict(self.state.config))
        return _json(self.state.configure(_body(request)))

    def on_reset(self, request):
        self.state.reset(**_body(request))
        with self.state.lock:
            return _json(dict(self.state.config))

    def _list(self, request, what, *keys):
        return _json({"data": self.state.snapshot(what, **{k: request.args.get(k) for k in keys})})

    def on_received(self, request):
        return self._list(request, "received", "type", "webhook_id", "verified", "duplicate")

    def on_actions(self, request):
        return self._list(request, "actions", "action", "fulfilment_id", "return_case_id",
                          "claim_id", "ok")

    def on_orders(self, request):
        return self._list(request, "orders", "state")

    def on_returns(self, request):
        return self._list(request, "returns", "state")

    def on_claims(self, request):
        return self._list(request, "claims", "state")

    def on_statements(self, request):
        return self._list(request, "statements", "status")

    def on_pending(self, request):
        return _json({"data": self.brain.worker.pending()})

    def on_flush(self, request):
        timeout = float(_body(request).get("timeout", 10))
        return _json({"idle": self.brain.worker.idle(timeout)})

    def on_ship(self, request, fid):
        self.brain.ship_now(fid)
        return _json({"scheduled": True, "fulfilment_id": fid})

    def on_report(self, request, fid):
        self.brain.report_now(fid)
        return _json({"scheduled": True, "fulfilment_id": fid})

    def on_receive(self, request, rid):
        self.brain.receive_now(rid)
        return _json({"scheduled": True, "return_case_id": rid})
