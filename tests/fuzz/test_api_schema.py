"""Fuzzing the REST API against its own ``/openapi.json`` (schemathesis, item 26).

Every documented operation is called with data schemathesis generates from the spec, with
a ``merchant_admin`` token and again with a ``supplier`` token, on a freshly seeded world
(``tests.fuzz.worlds.api_world``): a merchant, a shop, a supplier with a channel, an order
allocated to it, a return, parcels, a notice, an alert. Path ids are both generated and
pinned to that world's rows, so answers other than 404 (200, 202, 409, 422...) are
checked too. Each answer must be no 5xx, a documented status code, a documented content
type and headers, and a body that matches the documented schema.

Bounded and reproducible: ``POSITIVE`` + ``NEGATIVE`` examples per operation and role,
``derandomize=True`` (the same examples on every run), no example database. A failure
is reported per operation (a pytest subtest) with schemathesis's curl line to replay it.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import wipe
from tests.fuzz.bounds import bounded
from tests.fuzz.worlds import api_world

pytestmark = pytest.mark.fuzz

POSITIVE, NEGATIVE = 15, 6  # examples per operation and role
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
ROLES = ("merchant_admin", "supplier")


@pytest.fixture
def schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def _pinned_ids(operation, world) -> dict:
    ids = dict(world["ids"])
    if "/shops/" in operation.path:  # the re-authorize route takes a Kuaishou shop
        ids["account_id"] = world["kuaishou_account_id"]
    return {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}


def _strategy(operation, world, role, mode: GenerationMode):
    headers = {"Authorization": f"Bearer {world['tokens'][role]}"}
    generated = operation.as_strategy(mode, headers=headers)
    pinned = _pinned_ids(operation, world)
    if not pinned or mode is GenerationMode.NEGATIVE:
        return generated
    return st.one_of(generated, operation.as_strategy(mode, headers=headers,
                                                      path_parameters=pinned))


def _fuzz(operation, world, role) -> None:
    for mode, examples in ((GenerationMode.POSITIVE, POSITIVE),
                           (GenerationMode.NEGATIVE, NEGATIVE)):
        @bounded(examples)
        @given(case=_strategy(operation, world, role, mode))
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(schema, database, role, subtests):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the spec lost its operations"
    for operation in operations:
        with subtests.test(msg=f"{role} {operation.label}"):
            wipe(database)  # each operation starts from the same world
            with database.session() as s:
                world = api_world(s)
            _fuzz(operation, world, role)
