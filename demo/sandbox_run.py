"""``hub run --sandbox`` (``make run``): the hub plus the three sandboxes, linked and busy.

Besides the hub's own processes (``hub.cli.processes``), it starts as child processes

  * ``python -m sandbox.kuaishou`` (the shop platform; pushes retried within a second,
    ids offset by the start time so a restarted platform never reuses an order id),
  * ``python -m sandbox.courier`` (Kuaidi100-style tracking),
  * ``python -m sandbox.supplier`` (a dropship supplier on the hub's webhook channel,
    accepting, then shipping each order ``HUB_SANDBOX_SHIP_DELAY_S`` later),

on free loopback ports (or ``HUB_SANDBOX_PORTS=ks,courier,supplier``; the hub's
processes get them on ``HUB_OUTBOUND_ALLOW``, ``hub_env``), then links them,
idempotently, through ``demo.world.provision`` -- the demo's own set-up: the demo
merchant, its sandbox Kuaishou shop, the courier account, the supplier on a
``hub_webhook`` channel with SKU mappings. A restart reuses every row; only secrets are
new (a supplier token for the supplier sandbox, a ``merchant_admin`` API token, and a
password for each role's console user, ``sandbox-<role>``, printed once for the user;
nothing secret is written to a file).

Once the hub answers, the platform's push URL is pointed at it and the seeded scenario
generator (``sandbox/kuaishou/scenario.py``) starts trickling orders in: one every
``interval_s`` seconds, a share refunded before shipment (stop-ships), a share after the
hub pushed the shipment (returns), exchanges and held (do-not-ship) orders; and the
world's life (``demo.life``) runs days in minutes: the courier's clock, buyers sending
returns back, the supplier inspecting them (some damaged: liability and claims), the
month's statement.

Knobs (environment): ``HUB_SANDBOX_SCENARIO`` (JSON merged into the scenario request),
``HUB_SANDBOX_POLL_INTERVAL_S`` (the shop's poll interval, default 30 s, so orders whose
push was lost arrive anyway), ``HUB_SANDBOX_SHIP_DELAY_S`` (default 8),
``HUB_SANDBOX_TIME_SCALE`` (how much faster than the wall clock parcels travel, default
720: a day in two minutes) and ``demo.life``'s.
"""
from __future__ import annotations

import json
import os
import sys
import time

import requests

from demo import life
from hub.core.config import Settings

SCENARIO = {"seed": 1, "orders": 200, "interval_s": 3, "refund_before_shipment": 0.15,
            "refund_after_shipment": 0.15, "exchanges": 0.05, "risky": 0.1,
            "refund_delay_s": 2}
KS_CONFIG = {"pushTimeFactor": 0.001}  # a failed push is retried within a second
SANDBOX_ALLOW = ("127.0.0.1", "::1", "localhost")  # where the sandboxes listen


def outbound_allow(settings: Settings) -> tuple[str, ...]:
    """The hub's outbound allow-list with the sandboxes' loopback added."""
    return tuple(dict.fromkeys(settings.outbound_allow + SANDBOX_ALLOW))


def hub_env(settings: Settings) -> dict[str, str]:
    """What the hub's processes need in their environment to call the sandboxes."""
    return {"HUB_OUTBOUND_ALLOW": ",".join(outbound_allow(settings))}


def _ports() -> tuple[int, int, int]:
    from demo.env import free_port

    fixed = os.environ.get("HUB_SANDBOX_PORTS", "").strip()
    if fixed:
        ks, courier, supplier = (int(p) for p in fixed.split(","))
        return ks, courier, supplier
    return free_port(), free_port(), free_port()


def commands(settings: Settings) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The three sandboxes' command lines and base URLs."""
    ks, courier, supplier = _ports()
    urls = {name: f"http://127.0.0.1:{port}" for name, port in
            (("kuaishou", ks), ("courier", courier), ("supplier", supplier))}
    ship_delay = os.environ.get("HUB_SANDBOX_SHIP_DELAY_S", "8")
    py = sys.executable
    cmds = {
        "sandbox-kuaishou": [py, "-m", "sandbox.kuaishou", "--port", str(ks),
                             "--config", json.dumps(KS_CONFIG),
                             "--id-offset", str(int(time.time()) * 10_000)],
        "sandbox-courier": [py, "-m", "sandbox.courier", "--port", str(courier),
                            "--retry-interval", "1", "--time-scale",
                            os.environ.get("HUB_SANDBOX_TIME_SCALE", "720")],
        "sandbox-supplier": [py, "-m", "sandbox.supplier", "--port", str(supplier),
                             "--hub-url", settings.public_url, "--courier-url", urls["courier"],
                             "--ship-delay", ship_delay],
    }
    return cmds, urls


def _control(base: str, verb: str, path: str, **body):
    get = verb == "GET"
    resp = requests.request(verb, f"{base}/_sandbox{path}", json=None if get else body,
                            params=body if get else None, timeout=30)
    if resp.status_code >= 400:
        raise RuntimeError(f"{verb} {base}/_sandbox{path} answered {resp.status_code}: "
                           f"{resp.text[:300]}")
    return resp.json()


def wait_sandboxes(urls: dict[str, str], procs: dict, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    waiting = dict(urls)
    while waiting and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs.values()):
            return False
        for name, base in list(waiting.items()):
            try:
                if requests.get(f"{base}/_sandbox/health", timeout=1).status_code == 200:
                    del waiting[name]
            except requests.RequestException:
                pass
        time.sleep(0.1)
    return not waiting


def link(settings: Settings, urls: dict[str, str]) -> dict:
    """Provision (idempotently) and configure the supplier sandbox; issue the user's
    ``merchant_admin`` token and a console sign-in per role. Runs before the hub's
    processes start."""
    from sqlalchemy import select

    from connectors import outbound
    from demo.world import provision
    from hub.core import crypto
    from hub.core.db import Database
    from hub.models import ApiToken
    from hub.parties import auth

    crypto.configure(settings.secret_key, settings.old_secret_keys)
    outbound.configure(outbound_allow(settings))  # the accounts point at the sandboxes
    db = Database(settings.database_url)
    try:
        poll_s = int(os.environ.get("HUB_SANDBOX_POLL_INTERVAL_S", "30"))
        world = provision(db, lambda verb, path, **body: _control(urls["kuaishou"], verb, path,
                                                                  **body),
                          ks_url=urls["kuaishou"], courier_url=urls["courier"],
                          supplier_url=urls["supplier"], actor="hub run --sandbox",
                          shop_config={"poll_interval_s": poll_s})
        _control(urls["supplier"], "PUT", "/config", token=world["supplier_token"],
                 secrets=[world["whsec"]], hub_url=settings.public_url,
                 courier_url=urls["courier"], report_tracking=True, auto_ship=True,
                 damaged_every=life.DAMAGED_EVERY, return_mode="on_delivery")
        with db.session() as s:
            m = world["ids"]["merchant"]
            for old in s.scalars(select(ApiToken).where(
                    ApiToken.merchant_id == m, ApiToken.name == "hub run --sandbox",
                    ApiToken.revoked_at.is_(None))):
                auth.revoke(s, old)  # the token of an earlier start; a new one is printed
            _row, token = auth.issue_token(s, m, "merchant_admin", None, "hub run --sandbox")
            people = sign_ins(s, m, world["ids"]["supplier"])
        return {**world, "admin_token": token, "people": people}
    finally:
        db.dispose()


def sign_ins(s, merchant_id: int, supplier_id: int) -> dict[str, tuple[str, str]]:
    """role → (login, a new password): the console user ``sandbox-<role>`` of each role,
    created or given a new password (its old sessions end)."""
    import secrets

    from sqlalchemy import select

    from hub.models import User
    from hub.parties import users

    people = {}
    for role in ("merchant_admin", "operator", "finance", "supplier"):
        login, password = f"sandbox-{role.replace('_', '-')}", secrets.token_urlsafe(9)
        user = s.scalar(select(User).where(User.login == login))
        if user is None:
            users.create(s, merchant_id, login, role, "hub run --sandbox", password=password,
                         supplier_id=supplier_id if role == "supplier" else None)
        else:
            users.set_password(s, user, password, "hub run --sandbox")
        people[role] = (login, password)
    return people


def start_traffic(settings: Settings, urls: dict[str, str], world: dict) -> dict:
    """Point the platform's pushes at the hub, then start the scenario generator."""
    push_url = f"{settings.public_url}/webhooks/kuaishou/{world['ids']['shop']}"
    _control(urls["kuaishou"], "PATCH", f"/apps/{world['app_key']}", pushUrl=push_url)
    scenario = {**SCENARIO, "sellerId": world["seller_id"],
                **json.loads(os.environ.get("HUB_SANDBOX_SCENARIO") or "{}")}
    _control(urls["kuaishou"], "POST", "/scenario", **scenario)
    life.Life(settings.public_url, urls, world).start()
    return scenario


def banner(settings: Settings, urls: dict[str, str], world: dict, scenario: dict) -> str:
    url = settings.public_url
    every = scenario.get("interval_s")
    return "\n".join([
        f"Sandboxes: Kuaishou platform {urls['kuaishou']}, courier {urls['courier']}, "
        f"supplier {urls['supplier']}  (control APIs under /_sandbox)",
        f"Demo merchant {world['ids']['merchant']}: sandbox shop linked (account "
        f"{world['ids']['shop']}), courier, supplier SBX; scenario seed {scenario.get('seed')}: "
        f"{scenario.get('orders')} orders, one every {every} s, with refunds before and "
        f"after shipment",
        f"merchant_admin token (new on every start, shown once): {world['admin_token']}",
        "Sign-ins (passwords new on every start, shown once):",
        *(f"  {role:<15} login {login:<24} password {password}"
          for role, (login, password) in world["people"].items()),
        f"Console: {url}/console   "
        f"API: curl -H 'Authorization: Bearer <token>' {url}/api/v1/orders",
    ])
