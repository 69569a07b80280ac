"""A connector installed as a separate package, through the ``hub.connectors`` entry-point
group, is found and used with no edit to ``hub/``; a plugin that fails to load is logged
and skipped. The package is built and installed for real (``pip install --target``), with
a tiny in-tree PEP 517 backend (``tests/plugins/tinybuild.py``) so nothing is downloaded.
The throw-away platform and courier that link, poll, take webhooks and pushes are in
``tests/test_throwaway_connectors.py``."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import select

from connectors import registry
from hub.parties.accounts import add_account
from hub.core.errors import ApiError
from hub.models import Account, InboxEvent, PollState
from jobs import poll
from tests import factories as f
from tests.plugin_helpers import on_path, pip_install

PYPROJECT = """\
[build-system]
requires = []
build-backend = "tinybuild"
backend-path = ["."]

[project]
name = "hub-dummy-connector"
version = "0.1.0"

[project.entry-points."hub.connectors"]
dummy = "dummy_connector:Dummy"
broken = "broken_connector:Broken"
not_a_connector = "dummy_connector:helper"

[tool.tinybuild]
modules = ["dummy_connector", "broken_connector"]
"""

BACKEND = (Path(__file__).resolve().parent / "plugins" / "tinybuild.py").read_text()

DUMMY = '''\
"""A throw-away supplier connector with one poll stream and no HTTP."""
from datetime import datetime, timezone

from marshmallow import Schema, fields, validate

from connectors.base import Connector, PollStream, Record, Slice

AT = datetime(2026, 5, 1, tzinfo=timezone.utc)


class DummyConfig(Schema):
    endpoint = fields.String(required=True, validate=validate.Length(min=8))
    token = fields.String(required=True, metadata={"secret": True})
    batch = fields.Integer(load_default=2, validate=validate.Range(min=1, max=10))


class Dummy(Connector):
    name = "dummy"
    kind = "supplier"
    title = "Dummy supplier (test plugin)"
    capabilities = ("poll",)
    config_schema = DummyConfig

    def streams(self):
        def read(cursor):
            start = cursor.get("n", 0)
            ids = [f"D-{start + i}" for i in range(self.config["batch"])]
            yield Slice([Record("order", i, {"id": i}, AT) for i in ids],
                        {"n": start + len(ids)})

        return [PollStream("things", read, interval_s=60)]


def helper():
    """Named by an entry point, but not a connector class."""
'''

BROKEN = '''\
import hub_dummy_dependency_that_is_not_installed  # noqa: F401

class Broken:
    pass
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin_src")
    for name, text in {"pyproject.toml": PYPROJECT, "tinybuild.py": BACKEND,
                       "dummy_connector.py": DUMMY, "broken_connector.py": BROKEN}.items():
        (src / name).write_text(textwrap.dedent(text))
    site = pip_install(src, tmp_path_factory.mktemp("plugin_site"))
    assert (site / "hub_dummy_connector-0.1.0.dist-info" / "entry_points.txt").exists()
    return site


@pytest.fixture
def installed(plugin_site):
    with on_path(plugin_site, ("dummy_connector", "broken_connector")):
        yield plugin_site


def _cli(env_extra: dict, tmp_path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_ENV="test", HUB_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
               HUB_VAR_DIR=str(tmp_path), **env_extra)
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


@pytest.mark.slow
def test_the_registry_finds_an_installed_plugin_and_skips_broken_ones(installed, caplog):
    caplog.set_level(logging.ERROR, logger="connectors.registry")
    found = registry.all()
    assert found["dummy"].kind == "supplier" and found["dummy"].__module__ == "dummy_connector"
    assert "generic_shop" in found
    assert "broken" not in found and "not_a_connector" not in found
    failures = {(r.getMessage(), getattr(r, "connector", None)) for r in caplog.records}
    assert ("connector plugin failed to load", "broken") in failures
    assert ("not a connector class", "not_a_connector") in failures
    assert registry.get("dummy") is found["dummy"]


@pytest.mark.slow
def test_hub_connectors_list_shows_the_plugin(plugin_site, tmp_path):
    path = os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = _cli({"PYTHONPATH": path}, tmp_path, "connectors", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert "broken" not in rows and "generic_shop" in rows
    dummy = rows["dummy"]
    assert (dummy["kind"], dummy["capabilities"], dummy["title"]) == (
        "supplier", ["poll"], "Dummy supplier (test plugin)")
    schema = dummy["config_schema"]
    assert set(schema["required"]) == {"endpoint", "token"}
    assert schema["properties"]["token"]["writeOnly"] is True
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"endpoint": "https://dummy.test", "token": "t", "batch": 3})
    assert not validator.is_valid({"endpoint": "https://dummy.test", "batch": 3})
    assert not validator.is_valid({"endpoint": "https://dummy.test", "token": "t", "batch": 50})
    assert "broken" in done.stderr  # the skipped plugin is logged, not fatal

    text = _cli({"PYTHONPATH": path}, tmp_path, "connectors", "list")
    assert text.returncode == 0 and "dummy\tsupplier\tpoll" in text.stdout
    without = _cli({}, tmp_path, "connectors", "list", "--json")
    assert "dummy" not in {row["name"] for row in json.loads(without.stdout)}


@pytest.mark.slow
def test_an_account_for_the_plugin_is_validated_and_polled(installed, app, database):
    with database.session() as s:
        m = f.merchant(s)
        account = add_account(s, m.id, "dummy", "d1",
                              {"endpoint": "https://dummy.test", "token": "tok-123456"}, "test")
        account_id, merchant_id = account.id, m.id
        assert account.kind == "supplier" and account.config["batch"] == 2
    for bad, fields in [({"endpoint": "short"}, {"endpoint", "token"}),
                        ({"endpoint": "https://dummy.test", "token": "t", "batch": 0}, {"batch"}),
                        ({"endpoint": "https://dummy.test", "token": "t", "extra": 1},
                         {"extra"})]:
        with database.session() as s, pytest.raises(ApiError) as exc:
            add_account(s, merchant_id, "dummy", "d2", bad, "test")
        assert exc.value.code == "validation_error"
        assert set(exc.value.details["config"]) == fields

    runner = app.test_cli_runner()
    ok = runner.invoke(args=["accounts", "add", "dummy", "--merchant", str(merchant_id),
                             "--name", "d3", "--json", "--config",
                             '{"endpoint": "https://dummy.test", "token": "tok-abcdef"}'])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["id"] > account_id
    bad = runner.invoke(args=["accounts", "add", "dummy", "--merchant", str(merchant_id),
                              "--name", "d4", "--config", '{"endpoint": "x"}'])
    assert bad.exit_code == 1 and "invalid" in bad.output

    assert poll.run(app, "w1") == 2  # one stream for each of the two dummy accounts
    with database.session(readonly=True) as s:
        state = s.scalar(select(PollState).where(PollState.account_id == account_id))
        assert (state.stream, state.cursor) == ("things", {"n": 2})
        ids = list(s.scalars(select(InboxEvent.external_event_id)
                             .where(InboxEvent.account_id == account_id)
                             .order_by(InboxEvent.id)))
        assert ids == ["poll:order:D-0:2026-05-01T00:00:00+00:00",
                       "poll:order:D-1:2026-05-01T00:00:00+00:00"]
        assert s.get(Account, account_id).status == "active"
