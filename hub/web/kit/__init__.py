"""The API kit both REST APIs build on: one blueprint under ``/api/v1``, the ``endpoint``
decorator (auth, roles, marshmallow I/O, OpenAPI), ``scope`` (the only way views select
rows), pagination, and the common fields and schemas. The merchant API (``hub.web.api``)
and the supplier API (``hub.web.supplier_api``) import this, never each other.
"""
from flask import Blueprint

api_blueprint = Blueprint("api", "hub.web.api", url_prefix="/api/v1")
