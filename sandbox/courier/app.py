"""The courier sandbox's HTTP surface (a plain WSGI app on werkzeug).

Kuaidi100-style endpoints (form-encoded, as the real service):
    POST /poll                 subscribe: schema=json, param={company, number, key, parameters}
    POST /poll/query.do        real-time query: customer, sign, param (1 request/s/customer)
    POST /label/order          interception: key, method=interceptOrder, t, param, sign
    POST /order/borderapi.do   return pickup (商家寄件): key, method=bOrder, t, param, sign

Control API (JSON in, JSON out):
    GET  /_sandbox/health                      {"ok": true, "now": ...}
    POST /_sandbox/reset                       {"start"?, "accounts"?, "retry_interval_s"?}
    POST /_sandbox/accounts                    {"key", "customer", "secret", "expired"?}
    GET  /_sandbox/scenarios
    POST /_sandbox/parcels                     {"number", "com", "scenario"?, "phone"?}
    GET  /_sandbox/parcels/<number>
    POST /_sandbox/parcels/<number>/fast_forward   {"steps"?}   (all steps when absent)
    POST /_sandbox/parcels/<number>/replay         {"steps": k} (an old snapshot, late)
    POST /_sandbox/advance                     {"minutes"}
    POST /_sandbox/misbehave                   {"duplicate", "out_of_order", "bad_signature", "drop"}
    GET  /_sandbox/subscriptions
    GET  /_sandbox/interceptions
    GET  /_sandbox/bookings                    every pickup booked, with its request
    GET  /_sandbox/pushes                      every push with its attempts and state
    POST /_sandbox/flush                       {"timeout"?}: wait until every push settled
"""
from __future__ import annotations

import json
from datetime import datetime

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.courier import scenarios
from sandbox.courier.core import Sandbox, SandboxError, fmt
from sandbox.courier.interception import intercept
from sandbox.courier.pickup import book
from sandbox.courier.query import query

URLS = Map([
    Rule("/poll", endpoint="subscribe", methods=["POST"]),
    Rule("/poll/query.do", endpoint="query", methods=["POST"]),
    Rule("/label/order", endpoint="label", methods=["POST"]),
    Rule("/order/borderapi.do", endpoint="book", methods=["POST"]),
    Rule("/_sandbox/health", endpoint="health", methods=["GET"]),
    Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
    Rule("/_sandbox/accounts", endpoint="accounts", methods=["POST"]),
    Rule("/_sandbox/scenarios", endpoint="scenarios", methods=["GET"]),
    Rule("/_sandbox/parcels", endpoint="add_parcel", methods=["POST"]),
    Rule("/_sandbox/parcels/<number>", endpoint="parcel", methods=["GET"]),
    Rule("/_sandbox/parcels/<number>/fast_forward", endpoint="fast_forward", methods=["POST"]),
    Rule("/_sandbox/parcels/<number>/replay", endpoint="replay", methods=["POST"]),
    Rule("/_sandbox/advance", endpoint="advance", methods=["POST"]),
    Rule("/_sandbox/misbehave", endpoint="misbehave", methods=["POST"]),
    Rule("/_sandbox/subscriptions", endpoint="subscriptions", methods=["GET"]),
    Rule("/_sandbox/interceptions", endpoint="interceptions", methods=["GET"]),
    Rule("/_sandbox/bookings", endpoint="bookings", methods=["GET"]),
    Rule("/_sandbox/pushes", endpoint="pushes", methods=["GET"]),
    Rule("/_sandbox/flush", endpoint="flush", methods=["POST"]),
])


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    content_type="application/json;charset=UTF-8")


def _body(request: Request) -> dict:
    if not request.data:
        return {}
    try:
        data = json.loads(request.data)
    except ValueError:
        raise SandboxError("body is not JSON") from None
    if not isinstance(data, dict):
        raise SandboxError("body must be a JSON object")
    return data


class CourierApp:
    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except SandboxError as e:
            response = _json({"error": "bad_request", "message": str(e)}, 400)
        except NotFound:
            response = _json({"error": "not_found", "message": request.path}, 404)
        except HTTPException as e:
            response = _json({"error": e.name, "message": e.description}, e.code or 500)
        return response(environ, start_response)

    # -- Kuaidi100 ---------------------------------------------------------------------------
    def on_subscribe(self, request):
        return _json(self.sandbox.subscribe(request.form.to_dict()))

    def on_query(self, request):
        status, body = query(self.sandbox, request.form.to_dict())
        response = _json(body, status)
        if status == 429:
            response.headers["Retry-After"] = "1"
        return response

    def on_label(self, request):
        return _json(intercept(self.sandbox, request.form.to_dict()))

    def on_book(self, request):
        return _json(book(self.sandbox, request.form.to_dict()))

    # -- control -----------------------------------------------------------------------------
    def on_health(self, request):
        return _json({"ok": True, "now": fmt(self.sandbox.now)})

    def on_reset(self, request):
        data = _body(request)
        start = None
        if data.get("start"):
            try:
                start = datetime.fromisoformat(data["start"])
            except (TypeError, ValueError):
                raise SandboxError("start must be an ISO 8601 time") from None
        accounts = data.get("accounts")
        if accounts is not None and not (isinstance(accounts, list)
                                         and all(isinstance(a, dict) and a.get("key")
                                                 for a in accounts)):
            raise SandboxError("accounts must be a list of {key, customer, secret}")
        self.sandbox.reset(start=start, accounts=accounts,
                           retry_interval_s=data.get("retry_interval_s"))
        return _json({"ok": True, "now": fmt(self.sandbox.now)})

    def on_accounts(self, request):
        return _json(self.sandbox.add_account(_body(request)), 201)

    def on_scenarios(self, request):
        return _json({name: steps for name, steps in scenarios.SCENARIOS.items()})

    def on_add_parcel(self, request):
        data = _body(request)
        return _json(self.sandbox.add_parcel(str(data.get("number") or ""),
                                             str(data.get("com") or "").lower(),
                                             str(data.get("scenario") or "normal"),
                                             data.get("phone")), 201)

    def on_parcel(self, request, number):
        with self.sandbox.lock:
            return _json(self.sandbox.parcel_view(self.sandbox._parcel(number)))

    def on_fast_forward(self, request, number):
        steps = _body(request).get("steps")
        if steps is not None and not isinstance(steps, int):
            raise SandboxError("steps must be an integer")
        queued = self.sandbox.fast_forward(number, steps)
        return _json({"pushes_queued": queued, "now": fmt(self.sandbox.now)})

    def on_replay(self, request, number):
        steps = _body(request).get("steps", 1)
        if not isinstance(steps, int) or steps < 1:
            raise SandboxError("steps must be a positive integer")
        return _json({"pushes_queued": self.sandbox.replay(number, steps)})

    def on_advance(self, request):
        minutes = _body(request).get("minutes")
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool):
            raise SandboxError("minutes must be a number")
        queued = self.sandbox.advance(minutes)
        return _json({"pushes_queued": queued, "now": fmt(self.sandbox.now)})

    def on_misbehave(self, request):
        return _json(self.sandbox.set_misbehaviour(**_body(request)))

    def on_subscriptions(self, request):
        return _json(self.sandbox.subscriptions_view())

    def on_interceptions(self, request):
        with self.sandbox.lock:
            return _json(list(self.sandbox.interceptions.values()))

    def on_bookings(self, request):
        with self.sandbox.lock:
            return _json(list(self.sandbox.bookings.values()))

    def on_pushes(self, request):
        with self.sandbox.pusher._cond:
            return _json(list(self.sandbox.pusher.log))

    def on_flush(self, request):
        timeout = _body(request).get("timeout", 10)
        if not isinstance(timeout, (int, float)):
            raise SandboxError("timeout must be a number of seconds")
        return _json({"settled": self.sandbox.pusher.flush(float(timeout))})
