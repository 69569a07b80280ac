"""The demo world: the three sandboxes and a hub served exactly like ``hub run``, all on
loopback, in a temporary ``HUB_VAR_DIR`` with SQLite. ``hub demo`` (``demo.command``) and the
``stop_ship_latency`` benchmark (``bench/stop_ship.py``) are built on it.

    with DemoEnv(var_dir=None) as env:   # None: a temporary directory, removed on exit
        env.start()                      # sandboxes, database, gunicorn + `hub scheduler`,
                                         # a Kuaishou shop linked and pushing to the hub
        oid = env.new_order(PRODUCTS[0]) # created and paid on the platform (pushed)
        env.wait("order accepted", lambda: ..., timeout=10)    # StepTimeout past it
        env.refund(oid)                  # the buyer asks for a refund (pushed)
        env.stop_ship_latencies()        # refund push -> stop-ship at the supplier, per order

``ks`` / ``courier`` / ``supplier_ctl`` call each sandbox's control API; ``session()``
reads the hub's database.

What ``start`` sets up:
* the **Kuaishou sandbox** (``sandbox.kuaishou``): one app and one shop; the shop's
  tokens are issued by the platform's console (``/_sandbox/shops/<id>/authorize``) and
  registered the operator's way (``hub accounts add kuaishou``: ``hub.parties.accounts.add_account``),
  then the app's push URL is saved as the hub's ``/webhooks/kuaishou/<account_id>``;
* the **courier sandbox** (``sandbox.courier``): a ``kuaidi100`` account with its own salt
  and the label-API secret, so the hub subscribes and intercepts there;
* the **supplier sandbox** (``sandbox.supplier``): a ``hub_webhook`` channel with a fresh
  ``whsec_`` secret, a supplier token, SKU mappings for ``PRODUCTS``; it accepts orders
  but ships only when told (``POST /_sandbox/orders/<fid>/ship``), hands the tracking
  back only when asked (``.../report``) or when it rejects a stop-ship, registers its
  parcels at the courier, and confirms returns when told (``/returns/<id>/receive``);
* the **hub**: ``hub.cli.processes.gunicorn_command`` plus one ``python -m hub.cli scheduler``
  on a free port, ``HUB_PUBLIC_URL`` = that address; their output goes to
  ``<var_dir>/logs``.
``stop()`` stops the processes (SIGTERM, then SIGKILL after 15 s) and the sandboxes, and
removes the temporary directory (a directory given as ``var_dir`` is kept).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="
# (merchant SKU, title, price in fen)
PRODUCTS = [("MUG-01", "陶瓷马克杯 ceramic mug", 3990), ("TEE-02", "纯棉T恤 cotton T-shirt", 5900),
            ("LAMP-03", "LED 台灯 desk lamp", 12900)]
SHIPPING_FEE = 600
KS_CONFIG = {"pushTimeFactor": 0.001}  # a failed push is retried within a second
_UNSET = object()


class StepTimeout(RuntimeError):
    """A step of the scenario did not happen within its deadline."""

    def __init__(self, what: str, timeout: float, detail: str = ""):
        self.what, self.timeout = what, timeout
        super().__init__(f"{what}: did not happen within {timeout:g} s"
                         + (f" ({detail})" if detail else ""))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


DEMO_MERCHANT = "Demo merchant"
SHOP_NAME, COURIER_NAME, CHANNEL_NAME = ("sandbox shop", "sandbox courier",
                                         "sandbox supplier channel")
SUPPLIER_CODE = "SBX"
SANDBOX_SELLER_ID = 2_161_524_001  # the sandbox's first shop; fixed so a restart finds it


def provision(db, ks, *, ks_url: str, courier_url: str, supplier_url: str,
              whsec: str | None = None, shop_config: dict | None = None,
              actor: str = "demo") -> dict:
    """The demo world on both sides, idempotently: on the Kuaishou sandbox (``ks(verb,
    path, **body)``, its control API) an app and a shop authorized for it; in the hub's
    database (``db``, the crypto keyring configured) the demo merchant, its Kuaishou shop
    account, a ``kuaidi100`` account on the courier sandbox, a ``hub_webhook`` channel to
    the supplier sandbox, the supplier ``SBX`` with SKU mappings for ``PRODUCTS``, and a
    fresh supplier token (earlier ones of this set-up are revoked).

    Run against a database that already has them (``hub run --sandbox`` restarted), it
    reuses every row and re-creates the platform's side from what the hub holds: the app
    with the stored keys and the shop with the stored tokens (a restarted sandbox has
    forgotten both), and points the accounts at the sandboxes' current URLs.
    Answers ``{"ids", "app_key", "seller_id", "whsec", "supplier_token", "created"}``."""
    from sqlalchemy import select

    from connectors.hub_webhook.secrets import generate_secret
    from hub.parties import auth
    from hub.parties.accounts import add_account
    from hub.models import Account, ApiToken, Merchant, SkuMapping, Supplier

    with db.session() as s:
        merchant = s.scalar(select(Merchant).where(Merchant.name == DEMO_MERCHANT)
                            .order_by(Merchant.id))
        created = merchant is None
        if created:
            merchant = Merchant(name=DEMO_MERCHANT)
            s.add(merchant)
            s.flush()
        m = merchant.id

        def account(connector: str, name: str) -> Account | None:
            return s.scalar(select(Account).where(Account.merchant_id == m,
                                                  Account.connector == connector,
                                                  Account.name == name))

        shop_account = account("kuaishou", SHOP_NAME)
        if shop_account is None:
            app = ks("POST", "/apps", messageKey=MESSAGE_KEY)
            shop = ks("POST", "/shops", sellerId=SANDBOX_SELLER_ID, shopName="沙盒小店 demo shop")
            tokens = ks("POST", f"/shops/{shop['sellerId']}/authorize", appKey=app["appKey"])
            shop_account = add_account(s, m, "kuaishou", SHOP_NAME, {
                "app_key": app["appKey"], "app_secret": app["appSecret"],
                "sign_secret": app["signSecret"], "message_key": MESSAGE_KEY,
                "api_base_url": ks_url, "oauth_base_url": ks_url,
                "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                "access_token_expires_at": iso_in(172_800),
                "refresh_token_expires_at": iso_in(180 * 86_400),
                "backfill_days": 1, "order_window_days": 1, "refund_window_hours": 24,
                "qps_default": 100, **(shop_config or {})}, actor=actor)
            app_key, seller_id = app["appKey"], int(shop["sellerId"])
        else:  # the platform forgot the app and the shop: give it back what the hub holds
            cfg = dict(shop_account.config)
            app_key, seller_id = cfg["app_key"], SANDBOX_SELLER_ID
            ks("POST", "/apps", appKey=app_key, appSecret=cfg["app_secret"],
               signSecret=cfg["sign_secret"], messageKey=cfg["message_key"])
            ks("POST", "/shops", sellerId=seller_id, shopName="沙盒小店 demo shop")
            ks("POST", f"/shops/{seller_id}/authorize", appKey=app_key,
               accessToken=cfg["access_token"], refreshToken=cfg["refresh_token"])
            shop_account.config = {**cfg, "api_base_url": ks_url, "oauth_base_url": ks_url,
                                   "access_token_expires_at": iso_in(172_800),
                                   **(shop_config or {})}
            if shop_account.status != "active":
                shop_account.status, shop_account.status_reason = "active", None
        courier = account("kuaidi100", COURIER_NAME)
        if courier is None:
            courier = add_account(s, m, "kuaidi100", COURIER_NAME, {
                "key": "sandbox-key", "customer": "SANDBOXCUSTOMER", "secret": "sandbox-secret",
                "salt": secrets.token_hex(12), "poll_base_url": courier_url,
                "api_base_url": courier_url}, actor=actor)
        else:
            courier.config = {**courier.config, "poll_base_url": courier_url,
                              "api_base_url": courier_url}
        channel = account("hub_webhook", CHANNEL_NAME)
        if channel is None:
            whsec = whsec or generate_secret()
            channel = add_account(s, m, "hub_webhook", CHANNEL_NAME, {
                "endpoint_url": f"{supplier_url}/webhook", "secrets": [whsec]}, actor=actor)
        else:
            whsec = channel.config["secrets"][0]
            channel.config = {**channel.config, "endpoint_url": f"{supplier_url}/webhook"}
        supplier = s.scalar(select(Supplier).where(Supplier.merchant_id == m,
                                                   Supplier.code == SUPPLIER_CODE))
        if supplier is None:
            supplier = Supplier(merchant_id=m, code=SUPPLIER_CODE, name="沙盒工厂 sandbox supplier",
                                sla_hours=24, channel_account_id=channel.id)
            s.add(supplier)
            s.flush()
        mapped = set(s.scalars(select(SkuMapping.sku).where(
            SkuMapping.merchant_id == m, SkuMapping.supplier_id == supplier.id)))
        for sku, _title, _price in PRODUCTS:
            if sku not in mapped:
                s.add(SkuMapping(merchant_id=m, sku=sku, supplier_id=supplier.id))
        for old in s.scalars(select(ApiToken).where(
                ApiToken.merchant_id == m, ApiToken.supplier_id == supplier.id,
                ApiToken.name == "sandbox", ApiToken.revoked_at.is_(None))):
            auth.revoke(s, old)
        _row, supplier_token = auth.issue_token(s, m, "supplier", supplier.id, "sandbox")
        ids = {"merchant": m, "shop": shop_account.id, "courier": courier.id,
               "channel": channel.id, "supplier": supplier.id}
    return {"ids": ids, "app_key": app_key, "seller_id": seller_id, "whsec": whsec,
            "supplier_token": supplier_token, "created": created}


class DemoEnv:
    def __init__(self, var_dir: str | Path | None = None, *, web_workers: int = 2,
                 supplier_config: dict | None = None, log=None):
        self.keep = var_dir is not None
        self.var_dir = Path(var_dir).resolve() if var_dir else Path(
            tempfile.mkdtemp(prefix="hub-demo-"))
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{self.var_dir / 'hub.db'}"
        self.secret_key = secrets.token_urlsafe(40)
        self.web_workers = web_workers
        self.supplier_config = supplier_config or {}
        self.log = log or (lambda text: None)
        self.http = requests.Session()
        self.procs: dict[str, subprocess.Popen] = {}
        self.servers: list = []
        self.ids: dict[str, int] = {}
        self.db = None
        self._caller_keyring = _UNSET

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "DemoEnv":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "DemoEnv":
        self._start_sandboxes()
        self._prepare_database()
        self._start_hub()
        self._enable_push()
        return self

    def _start_sandboxes(self) -> None:
        from connectors.hub_webhook.secrets import generate_secret
        from sandbox.courier import serve as serve_courier
        from sandbox.kuaishou import serve as serve_kuaishou
        from sandbox.supplier import serve as serve_supplier

        ks, self.ks_url = serve_kuaishou(port=0, config=dict(KS_CONFIG))
        self.servers.append(ks)
        courier, self.courier_url = serve_courier(port=0, retry_interval_s=0.2)
        self.servers.append(courier)
        self.whsec = generate_secret()
        supplier, self.supplier_url = serve_supplier(
            port=0, hub_url=self.hub_url, secrets=[self.whsec], courier_url=self.courier_url,
            **{"auto_ship": False, "report_tracking": False, "carrier": "sf",
               "return_mode": "manual", **self.supplier_config})
        self.servers.append(supplier)
        self.log(f"sandboxes: platform {self.ks_url}, courier {self.courier_url}, "
                 f"supplier {self.supplier_url}")

    def settings(self):
        from hub.core.config import Settings

        return Settings.from_env(database_url=self.database_url, var_dir=self.var_dir,
                                 secret_key=self.secret_key, host="127.0.0.1", port=self.port,
                                 public_url=self.hub_url, env="development",
                                 web_workers=self.web_workers, log_level="WARNING")

    def _prepare_database(self) -> None:
        from hub.core import crypto, migrate
        from hub.core.db import Database

        settings = self.settings()
        migrate.upgrade(self.database_url)
        # this process writes encrypted configs under the demo's key; the caller's keyring
        # (a test session, say) is put back by stop()
        self._caller_keyring = crypto._keyring
        crypto.configure(settings.secret_key, settings.old_secret_keys)
        self.db = Database(self.database_url)
        world = provision(self.db, self.ks, ks_url=self.ks_url, courier_url=self.courier_url,
                          supplier_url=self.supplier_url, whsec=self.whsec)
        self.app_key, self.seller_id = world["app_key"], world["seller_id"]
        self.ids = world["ids"]
        self.supplier_ctl("PUT", "/config", token=world["supplier_token"])
        if self.keep:  # what it takes to open the kept database again (`hub run`, the CLI)
            (self.var_dir / "demo.env").write_text(
                f"HUB_VAR_DIR={self.var_dir}\nHUB_DATABASE_URL={self.database_url}\n"
                f"HUB_SECRET_KEY={self.secret_key}\n")

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_VAR_DIR=str(self.var_dir), HUB_DATABASE_URL=self.database_url,
                   HUB_SECRET_KEY=self.secret_key, HUB_HOST="127.0.0.1",
                   HUB_PORT=str(self.port), HUB_PUBLIC_URL=self.hub_url,
                   HUB_WEB_WORKERS=str(self.web_workers), HUB_ENV="development",
                   HUB_LOG_LEVEL="WARNING",
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p))
        return env

    def _start_hub(self, timeout: float = 30) -> None:
        from hub.cli.processes import gunicorn_command

        logs = self.var_dir / "logs"
        logs.mkdir(exist_ok=True)
        commands = {"web": gunicorn_command(self.settings()),
                    "scheduler": [sys.executable, "-m", "hub.cli", "scheduler"]}
        for name, cmd in commands.items():
            with open(logs / f"{name}.log", "ab") as out:
                self.procs[name] = subprocess.Popen(cmd, env=self.env(), cwd=self.var_dir,
                                                    stdout=out, stderr=subprocess.STDOUT,
                                                    start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"the hub's {dead[0]} process exited:\n{self.log_tail()}")
            try:
                if self.http.get(f"{self.hub_url}/healthz", timeout=1).status_code == 200:
                    self.log(f"hub: {self.hub_url} (gunicorn, {self.web_workers} workers, "
                             f"+ one scheduler-and-worker process), var dir {self.var_dir}")
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise StepTimeout("the hub answering /healthz", timeout, self.log_tail())

    def _enable_push(self) -> None:
        self.push_url = f"{self.hub_url}/webhooks/kuaishou/{self.ids['shop']}"
        self.ks("PATCH", f"/apps/{self.app_key}", pushUrl=self.push_url)
        self.wait("the platform's heartbeat acknowledged by the hub", lambda: self.ks(
            "GET", "/pushes", appKey=self.app_key, kind="heartbeat", state="delivered"), 15)

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for name in self.procs:
            path = self.var_dir / "logs" / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} log ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.procs.clear()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        self.http.close()
        if self.db is not None:
            self.db.dispose()
            self.db = None
        if self._caller_keyring is not _UNSET:
            from hub.core import crypto

            crypto._keyring, self._caller_keyring = self._caller_keyring, _UNSET
        if not self.keep:
            shutil.rmtree(self.var_dir, ignore_errors=True)

    # -- talking to the sandboxes and the hub ------------------------------------------------
    def _call(self, base: str, verb: str, path: str, body: dict | None = None,
              params: dict | None = None):
        resp = self.http.request(verb, base + path, json=body, params=params, timeout=30)
        if resp.status_code >= 400:
            raise RuntimeError(f"{verb} {base}{path} answered {resp.status_code}: "
                               f"{resp.text[:300]}")
        return resp.json()

    def ks(self, verb: str, path: str, **body):
        """The Kuaishou sandbox's control API (``/_sandbox``); GET sends ``body`` as query."""
        get = verb == "GET"
        return self._call(self.ks_url + "/_sandbox", verb, path, None if get else body,
                          body if get else None)

    def courier(self, verb: str, path: str, **body):
        get = verb == "GET"
        return self._call(self.courier_url + "/_sandbox", verb, path, None if get else body,
                          body if get else None)

    def supplier_ctl(self, verb: str, path: str, **body):
        get = verb == "GET"
        answer = self._call(self.supplier_url + "/_sandbox", verb, path, None if get else body,
                            body if get else None)
        return answer["data"] if isinstance(answer, dict) and "data" in answer else answer

    def new_order(self, product: tuple, quantity: int = 1) -> int:
        """A buyer orders and pays on the platform; the platform pushes it. Its ``oid``."""
        sku, title, price = product
        order = self.ks("POST", "/orders", paid=True, expressFee=SHIPPING_FEE,
                        item={"skuNick": sku, "itemTitle": title, "price": price,
                              "num": quantity})
        return int(order["oid"])

    def refund(self, oid: int, handling_way: int = 10, reason: str = "不想要了") -> int:
        """The buyer asks for a refund (10 refund only, 1 return and refund); its id."""
        made = self.ks("POST", f"/orders/{oid}/refunds", handlingWay=handling_way,
                       refundReasonDesc=reason)
        return int(made["refundId"])

    def session(self):
        return self.db.session(readonly=True)

    def stop_ship_latencies(self) -> list[dict]:
        """Per stop-ship the supplier received: from the platform's first POST of the
        buyer's refund (``kwaishop_aftersales_addRefund``) to the webhook's arrival at the
        supplier, both stamped by the sandboxes as they happened (one clock: this
        process). ``{fulfilment_id, platform_order_id, refund_id, pushed_ms, received_ms,
        latency_ms}``, in arrival order; repeated deliveries are not counted again."""
        pushed = {}
        for push in self.ks("GET", "/pushes", appKey=self.app_key,
                            event="kwaishop_aftersales_addRefund"):
            info = json.loads(push["envelope"]["info"])
            if push["attempts"]:
                pushed.setdefault(str(info["orderId"]),
                                  (push["attempts"][0]["atMs"], push["bizId"]))
        found: dict[int, dict] = {}
        for row in self.supplier_ctl("GET", "/received", type="stop_ship"):
            data = row.get("data") or {}
            oid, fid = str(data.get("platform_order_id")), data.get("fulfilment_id")
            if not row["verified"] or fid in found or oid not in pushed:
                continue
            at_ms, refund_id = pushed[oid]
            received_ms = row["received_epoch"] * 1000
            found[fid] = {"fulfilment_id": fid, "platform_order_id": oid,
                          "refund_id": refund_id, "pushed_ms": at_ms,
                          "received_ms": round(received_ms, 1),
                          "latency_ms": round(received_ms - at_ms, 1)}
        return list(found.values())

    @staticmethod
    def wait(what: str, predicate, timeout: float, interval: float = 0.05, detail=None):
        """Poll ``predicate`` until it answers something truthy (returned), else raise
        ``StepTimeout(what)``; ``detail()`` adds what was seen instead."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StepTimeout(what, timeout, detail() if detail else "")
            time.sleep(interval)
