"""``/openapi.json`` generated from the ``@endpoint`` metadata and marshmallow schemas, and
the API docs page ``/docs`` (Swagger UI, served from the installed swagger-ui-bundle so it
works offline)."""
from __future__ import annotations

import json
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import (Blueprint, Response, current_app, jsonify, render_template,
                   send_from_directory, url_for)
from swagger_ui_bundle import swagger_ui_path

docs_blueprint = Blueprint("docs", __name__)

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "object"}}}},
}
_PATH_ARG = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__


def build_spec(app) -> dict:
    spec = APISpec(
        title="Dropship Hub API", version="v1", openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": "Orders, returns and shipments across shop platforms, dropship "
                             "suppliers and couriers. Authenticate with "
                             "`Authorization: Bearer <token>`."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR_SCHEMA)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        api = getattr(view, "api_spec", None)
        if api is None:
            continue
        path = _PATH_ARG.sub(r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, api)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule, api) -> dict:
    op = {"summary": api.summary, "tags": api.tags, "security": [{"bearer": []}],
          "description": f"Roles: {', '.join(sorted(api.roles))}."}
    params = [{"in": "path", "name": name, "required": True, "schema": {"type": "integer"}}
              for name in _PATH_ARG.findall(rule.rule)]
    if api.query:
        params.append({"in": "query", "schema": api.query})
    if params:
        op["parameters"] = params
    if api.body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": api.body}}}
    if api.upload:
        op["requestBody"] = {"required": True, "content": {
            media: {"schema": schema} for media, schema in api.upload.items()}}
    refusals = [(400, "bad request"), (401, "no or bad token"), (403, "role not allowed"),
                (404, "not found"), (422, "invalid fields")]
    if set(rule.methods) - {"GET", "HEAD", "OPTIONS"}:
        refusals += [(409, "conflicts with the record's state or a concurrent change"),
                     (413, "the body is larger than HUB_MAX_BODY_BYTES or the upload limit")]
    if api.upload:
        refusals.append((415, "a media type not listed in the request body"))
    refusals += [r for r in api.refusals if r[0] not in {code for code, _ in refusals}]
    errors = {str(code): {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for code, text in sorted(refusals)}
    if api.produces:
        ok = {"200": {"description": "the file, as an attachment", "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in api.produces}}}
    elif api.response is None:
        ok = {"204": {"description": "done"}}
    elif api.many:
        ok = {str(api.status): {"description": "a page", "content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "data": {"type": "array", "items": api.response},
                "next_cursor": {"type": "string", "nullable": True}}}}}}}
    else:
        ok = {str(api.status): {"description": "ok", "content": {
            "application/json": {"schema": api.response}}}}
    op["responses"] = {**ok, **errors}
    return op


@docs_blueprint.get("/openapi.json")
def openapi_json():
    if "hub_openapi" not in current_app.extensions:
        current_app.extensions["hub_openapi"] = build_spec(current_app)
    return jsonify(current_app.extensions["hub_openapi"])


@docs_blueprint.get("/docs")
def docs_page():
    return render_template("api_docs.html")


@docs_blueprint.get("/docs/init.js")
def docs_init():
    """Swagger UI's start, as a script of its own: the pages' policy allows no inline one."""
    url = json.dumps(url_for("docs.openapi_json"))
    return Response(f"window.ui = SwaggerUIBundle({{url: {url}, dom_id: \"#swagger-ui\", "
                    "deepLinking: true});\n", mimetype="text/javascript")


@docs_blueprint.get("/docs/assets/<path:filename>")
def docs_assets(filename):
    return send_from_directory(swagger_ui_path, filename, max_age=3600)
