"""``@endpoint``: one decorator that authenticates, authorises, validates and documents.

    @bp.get("/orders")
    @endpoint(query=OrderListArgs, response=OrderOut, many=True, roles=READERS,
              summary="List orders")
    def list_orders(args): ...

* ``roles``: which token roles may call it (401 without a valid token, 403 otherwise);
* ``query`` / ``body``: marshmallow schemas; the loaded values are passed as ``args`` /
  ``body``. Unknown fields, wrong types and malformed JSON are 4xx errors with details;
* ``response``: the schema the return value is dumped with; ``many=True`` expects a
  ``Page`` and answers ``{"data": [...], "next_cursor": ...}``;
* ``produces``: the media type (or types) of a file the view answers itself (a download);
  ``upload``: media type → schema of a body the view reads itself (415 for others).

The same metadata feeds ``/openapi.json`` (``hub.web.docs``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from flask import g, jsonify, request
from marshmallow import RAISE, Schema

from connectors import bounded_json
from hub.core.errors import ApiError, Forbidden, Unauthorized
from hub.parties import auth
from hub.web.context import request_session


@dataclass
class EndpointSpec:
    roles: frozenset
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    response: type[Schema] | None = None
    many: bool = False
    status: int = 200
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    produces: tuple | None = None
    upload: dict | None = None
    refusals: tuple = ()  # ((status, why), ...) beyond the usual ones (/openapi.json)


def principal() -> auth.Principal:
    return g.principal


def _authenticate(roles: frozenset) -> auth.Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    who = auth.authenticate(request_session(), token.strip())
    if who is None:
        raise Unauthorized("the API token is unknown or revoked")
    if who.role not in roles:
        raise Forbidden(f"role {who.role!r} may not call this endpoint",
                        details={"allowed_roles": sorted(roles)})
    return who


def _refuse_nul(data, where: str) -> None:
    """NUL characters reach no database (PostgreSQL refuses them in text and jsonb): a 422
    naming where, for every operation at once."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            raise ApiError(f"the {where} must not contain NUL characters",
                           code="validation_error", status=422, details={where: ["NUL"]})
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _json_body() -> dict:
    if not request.get_data(cache=True):
        raise ApiError("a JSON request body is required", code="invalid_json")
    try:
        data = bounded_json.loads(request.get_data(cache=True))
    except ValueError:  # not JSON, not UTF-8, or nested too deep
        raise ApiError("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object", code="invalid_json")
    _refuse_nul(data, "body")
    return data


def endpoint(*, roles, query=None, body=None, response=None, many=False, status=200,
             summary="", tags=None, produces=None, upload=None, refusals=()):
    spec = EndpointSpec(frozenset(roles), query, body, response, many, status, summary,
                        tags or [], (produces,) if isinstance(produces, str) else produces,
                        upload, tuple(refusals))

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**path_args):
            g.principal = _authenticate(spec.roles)
            kwargs = dict(path_args)
            _refuse_nul([list(pair) for pair in request.args.items(multi=True)], "query")
            if spec.upload is None:  # an upload's form is read by its view, under its limit
                _refuse_nul([list(pair) for pair in request.form.items(multi=True)], "form")
            if spec.query:
                kwargs["args"] = spec.query(unknown=RAISE).load(request.args.to_dict())
            elif request.args:  # no parameters declared: any given is an unknown field
                Schema(unknown=RAISE).load(request.args.to_dict())
            if spec.body:
                kwargs["body"] = spec.body(unknown=RAISE).load(_json_body())
            result = view(**kwargs)
            if spec.response is None:
                return ("", 204) if result is None else result
            if spec.many:
                payload = {"data": spec.response(many=True).dump(result.items),
                           "next_cursor": result.next_cursor}
            else:
                payload = spec.response().dump(result)
            return jsonify(payload), spec.status

        wrapper.api_spec = spec
        return wrapper

    return decorate
