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
import shlex
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from demo.world import KS_CONFIG, SHIPPING_FEE, provision

ROOT = Path(__file__).resolve().parent.parent
_UNSET = object()
# the sandboxes listen on loopback: the hub may call them (``HUB_OUTBOUND_ALLOW``)
SANDBOX_ALLOW = ("127.0.0.1", "::1", "localhost")


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
        self._caller_allow = _UNSET

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
                                 web_workers=self.web_workers, log_level="WARNING",
                                 outbound_allow=SANDBOX_ALLOW)

    def _prepare_database(self) -> None:
        from connectors import outbound
        from hub.core import crypto, migrate
        from hub.core.db import Database

        settings = self.settings()
        migrate.upgrade(self.database_url)
        # this process writes encrypted configs under the demo's key; the caller's keyring
        # (a test session, say) is put back by stop()
        self._caller_keyring = crypto._keyring
        crypto.configure(settings.secret_key, settings.old_secret_keys)
        self._caller_allow = outbound.configure(settings.outbound_allow)
        self.db = Database(self.database_url)
        world = provision(self.db, self.ks, ks_url=self.ks_url, courier_url=self.courier_url,
                          supplier_url=self.supplier_url, whsec=self.whsec)
        self.app_key, self.seller_id = world["app_key"], world["seller_id"]
        self.ids = world["ids"]
        self.supplier_ctl("PUT", "/config", token=world["supplier_token"])
        if self.keep:  # what it takes to open the kept database again (`hub run`, the CLI)
            (self.var_dir / "demo.env").write_text("".join(
                f"export {name}={shlex.quote(str(value))}\n" for name, value in (
                    ("HUB_VAR_DIR", self.var_dir), ("HUB_DATABASE_URL", self.database_url),
                    ("HUB_SECRET_KEY", self.secret_key))))

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_VAR_DIR=str(self.var_dir), HUB_DATABASE_URL=self.database_url,
                   HUB_SECRET_KEY=self.secret_key, HUB_HOST="127.0.0.1",
                   HUB_PORT=str(self.port), HUB_PUBLIC_URL=self.hub_url,
                   HUB_WEB_WORKERS=str(self.web_workers), HUB_ENV="development",
                   HUB_LOG_LEVEL="WARNING", HUB_OUTBOUND_ALLOW=",".join(SANDBOX_ALLOW),
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
        if self._caller_allow is not _UNSET:
            from connectors import outbound

            outbound.configure(self._caller_allow)
            self._caller_allow = _UNSET
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
