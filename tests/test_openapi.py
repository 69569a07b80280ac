"""``/openapi.json`` is a valid OpenAPI 3 document describing every ``/api/v1`` route (its
methods, parameters, bodies and responses), and ``/docs`` serves Swagger UI offline."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from hub.web.kit import schemas as api_schemas

PATH_ARG = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def spec(client):
    resp = client.get("/openapi.json")  # no token needed to read the description
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def api_operations(app):
    """(openapi path, method, EndpointSpec, flask rule) for every API route."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        api = app.view_functions[rule.endpoint].api_spec
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield PATH_ARG.sub(r"{\1}", rule.rule), method.lower(), api, rule


def resolve(spec, schema: dict) -> dict:
    while "$ref" in schema or "allOf" in schema:
        ref = schema["$ref"] if "$ref" in schema else schema["allOf"][0]["$ref"]
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def ref_name(schema: dict) -> str:
    return schema["$ref"].rsplit("/", 1)[-1]


def test_is_a_valid_openapi_3_document(spec):
    validate(spec)  # raises on any violation of the OpenAPI 3 schema
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_api_route_and_method_is_documented(app, spec):
    routes = {}
    for path, method, _, _ in api_operations(app):
        routes.setdefault(path, set()).add(method)
    assert len(routes) >= 15
    documented = {path: set(ops) for path, ops in spec["paths"].items()}
    assert documented == routes
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["summary"], (method, path)
            assert op["security"] == [{"bearer": []}]
            assert "Roles:" in op["description"]


def test_path_and_query_parameters(app, spec):
    for path, method, api, rule in api_operations(app):
        params = spec["paths"][path][method].get("parameters", [])
        in_path = {p["name"]: p for p in params if p["in"] == "path"}
        assert set(in_path) == set(PATH_ARG.findall(rule.rule)), path
        assert all(p["required"] and p["schema"]["type"] == "integer" for p in in_path.values())
        in_query = {p["name"]: p for p in params if p["in"] == "query"}
        expected = set(api.query().fields) if api.query else set()
        assert set(in_query) == expected, (method, path)
        for p in in_query.values():
            assert "type" in p["schema"], (method, path, p["name"])


def test_list_filters_are_described(spec):
    orders = {p["name"]: p for p in spec["paths"]["/api/v1/orders"]["get"]["parameters"]}
    assert {"status", "since", "until", "updated_since", "sku", "supplier_id",
            "tracking_number", "limit", "cursor"} <= set(orders)
    assert orders["limit"]["schema"]["minimum"] == 1
    assert orders["limit"]["schema"]["maximum"] == 200
    assert orders["since"]["schema"]["format"] == "date-time"
    assert "paid" in orders["status"]["schema"]["enum"]


def test_request_bodies(app, spec):
    for path, method, api, _ in api_operations(app):
        op = spec["paths"][path][method]
        if api.upload is not None:  # a body the view reads itself: its media types
            assert set(op["requestBody"]["content"]) == set(api.upload), (method, path)
            continue
        if api.body is None:
            assert "requestBody" not in op, (method, path)
            continue
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert ref_name(schema) == api.body.__name__
        assert set(resolve(spec, schema)["properties"]) == set(api.body().fields)


def test_response_schemas(app, spec):
    for path, method, api, _ in api_operations(app):
        responses = spec["paths"][path][method]["responses"]
        for status in ("401", "403", "404", "422"):
            assert ref_name(responses[status]["content"]["application/json"]["schema"]) \
                == "Error"
        if api.produces is not None:  # a download: the file, not JSON
            assert "204" not in responses, (method, path)
            assert set(responses["200"]["content"]) == set(api.produces), (method, path)
            continue
        if api.response is None:
            assert "204" in responses, (method, path)
            continue
        schema = responses[str(api.status)]["content"]["application/json"]["schema"]
        if api.many:
            assert set(schema["properties"]) == {"data", "next_cursor"}
            schema = schema["properties"]["data"]["items"]
        assert ref_name(schema) == api.response.__name__, (method, path)
        fields = api.response().fields
        assert set(resolve(spec, schema)["properties"]) == set(fields), (method, path)


def test_core_schemas_type_every_property(spec):
    """The record and set-up schemas describe each field (no untyped ``{}``)."""
    names = [n for n, obj in vars(api_schemas).items()
             if isinstance(obj, type) and obj.__module__ == api_schemas.__name__
             and n in spec["components"]["schemas"]]
    assert {"OrderOut", "ShipmentDetailOut", "ReturnCaseOut", "AccountOut"} <= set(names)
    for name in names:
        for prop, schema in spec["components"]["schemas"][name]["properties"].items():
            assert {"type", "$ref", "allOf"} & set(schema), (name, prop, schema)
    order = spec["components"]["schemas"]["OrderOut"]["properties"]
    assert set(resolve(spec, order["buyer"])["properties"]) >= {"name", "phone", "address"}
    assert order["total_minor"]["type"] == "integer"


def test_error_schema(spec):
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["properties"]) == {"code", "message", "details"}


def test_docs_page_loads_with_its_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert set(assets) == {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                           "/docs/init.js"}
    start = client.get("/docs/init.js").get_data(as_text=True)  # no inline script (CSP)
    assert "SwaggerUIBundle" in start and "/openapi.json" in start
    for url, mimetype in (("/docs/assets/swagger-ui-bundle.js", "javascript"),
                          ("/docs/assets/swagger-ui.css", "text/css")):
        with client.get(url) as resp:  # a streamed file: close it
            assert resp.status_code == 200, url
            assert mimetype in resp.mimetype
            assert len(resp.get_data()) > 1000
    assert client.get("/docs/assets/../../hub/config.py").status_code == 404
    assert client.get("/docs/assets/nope.js").status_code == 404
