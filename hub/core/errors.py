"""The one error shape every caller sees: ``{"error": {"code", "message", "details"}}``.

Raise ``ApiError`` (or a subclass) anywhere in a request; the handlers registered by
``register_error_handlers`` turn it, any HTTP error, a marshmallow ``ValidationError`` and
any unexpected exception into that JSON. No stack trace ever reaches a client: the
unexpected ones are logged with a reference the client is given.
"""
from __future__ import annotations

import logging
import uuid

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict | list | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details or {}


class NotFound(ApiError):
    status, code = 404, "not_found"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Conflict(ApiError):
    status, code = 409, "conflict"


def error_response(status: int, code: str, message: str, details=None):
    resp = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    resp.status_code = status
    return resp


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return error_response(e.status, e.code, e.message, e.details)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        return error_response(422, "validation_error", "the request has invalid fields",
                              e.messages)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        message = e.description or e.name
        if status == 413:
            message = "the request body is larger than this endpoint accepts"
        resp = error_response(status, _HTTP_CODES.get(status, "http_error"), message)
        if "Allow" in (headers := dict(e.get_headers())):  # 405 names the allowed methods
            resp.headers["Allow"] = headers["Allow"]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error", extra={"error_ref": ref})
        return error_response(500, "internal_error",
                              f"an internal error occurred; reference {ref}")
