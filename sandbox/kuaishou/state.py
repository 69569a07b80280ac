"""Thread-safe in-memory state of one simulated Kuaishou platform.

``State`` holds the configuration, a simulated clock (real time plus an offset that the
control API can move), the registered apps and shops, OAuth grants, codes and tokens,
orders and refunds, and two logs: every API call, and every write the hub made
(deliveries, refund decisions). All mutation happens under ``state.lock`` (an RLock);
business modules (``orders``, ``refunds``, ``oauth``) take it for the whole operation.

    state = State(Config.from_dict({"pushTimeFactor": 0.001}))
    with state.lock:
        shop = state.add_shop(seller_id=None)
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
ALL_SCOPES = ("user_base", "user_info", "merchant_user", "merchant_item", "merchant_order",
              "merchant_refund", "merchant_logistics", "merchant_distribution",
              "merchant_promotion", "merchant_cs", "merchant_comment", "merchant_servicemarket")
DEFAULT_QPS = {"open.order.cursor.list": [300, 300], "open.order.decrypt.batch": [100, 100]}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class Config:
    """Every tunable of the simulator; the control API reads and writes it in camelCase."""
    access_token_ttl_s: int = 172_800          # 48 h
    refresh_token_ttl_days: int = 180
    code_ttl_s: int = 120                      # authorization code: 2 minutes, single use
    refresh_grace_s: int = 300                 # a used refresh_token still works 5 minutes
    timestamp_tolerance_ms: int = 600_000      # |timestamp - now|; 0 disables the check
    order_window_ms: int = 7 * DAY_MS          # open.order.cursor.list range (300004)
    refund_window_ms: int = DAY_MS             # refund pcursor list range (300019)
    history_limit_ms: int = 90 * DAY_MS        # beginTime no older than this (300005)
    promise_ship_hours: int = 48               # validPromiseShipmentTimeStamp = payTime + this
    refund_expire_hours: int = 48              # refund expireTime = createTime + this
    default_qps: list = field(default_factory=lambda: [300, 300])   # [per app, per user]
    qps: dict = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_QPS.items()})
    qps_result_code: int = 1016
    push_time_factor: float = 1.0              # retry delays (minutes) x 60 x this = seconds
    push_timeout_s: float = 3.0
    push_retry_minutes: list = field(default_factory=lambda: [5, 10, 20, 30, 60])
    push_workers: int = 8
    heartbeat_encrypted: bool = True           # [GAP] whether the real heartbeat is encrypted
    heartbeat_interval_s: float = 0.0          # periodic heartbeat; 0 = only when URL saved
    pause_on_heartbeat_failure: bool = False
    enforce_do_not_ship: bool = True           # deliver refuses held orders with result 11
    merge_shipment_days: int = 30
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> "Config":
        config = cls()
        config.update(data or {})
        return config

    def update(self, data: dict) -> None:
        known = {f.name for f in fields(self)}
        for key, value in data.items():
            name = key if key in known else snake(key)
            if name not in known:
                raise ValueError(f"unknown config key {key!r}")
            setattr(self, name, value)

    def to_json(self) -> dict:
        return {camel(k): v for k, v in asdict(self).items()}

    def qps_for(self, method: str) -> tuple[int, int]:
        app_qps, user_qps = self.qps.get(method, self.default_qps)
        return int(app_qps), int(user_qps)


class Clock:
    """Simulated time in epoch milliseconds: real time plus an adjustable offset."""

    def __init__(self):
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, ms: int) -> None:
        self.offset_ms += int(ms)

    def set_now(self, now_ms: int) -> int:
        delta = int(now_ms) - self.now_ms()
        self.offset_ms += delta
        return delta


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Misbehaviour:
    drop_rate: float = 0.0          # fraction of pushes never sent
    duplicate_rate: float = 0.0     # fraction of pushes sent twice
    delay_seconds: float = 0.0      # extra delay before the first attempt (real seconds)
    empty_open_id_rate: float = 0.0  # fraction of envelopes with openId "" (K4003)

    def to_json(self) -> dict:
        return {camel(k): v for k, v in asdict(self).items()}


@dataclass
class App:
    app_key: str
    app_secret: str
    sign_secret: str
    message_key: str
    push_url: str | None = None
    redirect_uri: str | None = None           # None: any callback accepted
    scopes: tuple = ALL_SCOPES
    events: list | None = None                # subscribed events; None = all
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    push_paused: bool = False
    default_seller_id: int | None = None

    def to_json(self) -> dict:
        return {"appKey": self.app_key, "appSecret": self.app_secret,
                "signSecret": self.sign_secret, "messageKey": self.message_key,
                "pushUrl": self.push_url, "redirectUri": self.redirect_uri,
                "scopes": list(self.scopes), "events": self.events,
                "misbehaviour": self.misbehaviour.to_json(), "pushPaused": self.push_paused,
                "defaultSellerId": self.default_seller_id}


@dataclass
class Shop:
    seller_id: int
    open_id: str
    seller_nick: str
    shop_name: str
    return_address_id: int
    return_address: str

    def to_json(self) -> dict:
        return {"sellerId": self.seller_id, "openId": self.open_id, "sellerNick": self.seller_nick,
                "shopName": self.shop_name, "returnAddressId": self.return_address_id,
                "returnAddress": self.return_address}


@dataclass
class Grant:
    """One merchant's authorization of one app. ``epoch`` changes on re-authorization
    after a revocation, which invalidates every token issued before."""
    app_key: str
    seller_id: int
    scopes: list
    authorized_ms: int
    refresh_expires_ms: int
    revoked: bool = False
    epoch: int = 1


@dataclass
class AuthCode:
    code: str
    app_key: str
    seller_id: int
    scopes: list
    redirect_uri: str
    created_ms: int
    used: bool = False


@dataclass
class AccessToken:
    token: str
    app_key: str
    seller_id: int | None          # None: a client_credentials (app-level) token
    scopes: list
    expires_ms: int
    epoch: int = 0


@dataclass
class RefreshToken:
    token: str
    app_key: str
    seller_id: int
    epoch: int
    used_ms: int | None = None     # first use; accepted for refresh_grace_s afterwards


class State:
    """Everything the simulated platform knows; guard every access with ``lock``."""

    def __init__(self, config: Config | None = None):
        self.lock = threading.RLock()
        self.config = config or Config()
        self.clock = Clock()
        self.push = None                      # set by create_app (push.PushService)
        self._reset_data()

    def _reset_data(self) -> None:
        self.apps: dict[str, App] = {}
        self.shops: dict[int, Shop] = {}
        self.grants: dict[tuple[str, int], Grant] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.orders: dict[int, Any] = {}      # oid -> model.Order
        self.refunds: dict[int, Any] = {}     # refundId -> model.Refund
        self.waybills: dict[str, list] = {}   # expressNo -> [(oid, seller_id, address key, ms)]
        self.actions: list[dict] = []         # writes the hub made, in order
        self.calls: deque = deque(maxlen=20_000)
        self._ids = {"oid": itertools.count(2_607_602_240_000_001),
                     "refund": itertools.count(2_151_000_000_000_001),
                     "logistics": itertools.count(300_000_001),
                     "item": itertools.count(1),
                     "action": itertools.count(1),
                     "seller": itertools.count(2_161_524_001),
                     "address": itertools.count(88_001)}

    def reset(self) -> None:
        with self.lock:
            self._reset_data()
            self.clock.offset_ms = 0

    def offset_ids(self, offset: int) -> None:
        """Start the order, refund and logistics ids ``offset`` higher (``--id-offset``)."""
        with self.lock:
            for kind, start in (("oid", 2_607_602_240_000_001),
                                ("refund", 2_151_000_000_000_001), ("logistics", 300_000_001)):
                self._ids[kind] = itertools.count(start + int(offset))

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # ---- apps and shops ---------------------------------------------------------------
    def add_app(self, **values) -> App:
        app_key = values.pop("app_key", None) or f"ks{secrets.randbelow(9 * 10 ** 17) + 10 ** 17}"
        if app_key in self.apps:
            raise ValueError(f"app {app_key} exists")
        app = App(app_key=app_key,
                  app_secret=values.pop("app_secret", None) or secrets.token_urlsafe(16),
                  sign_secret=values.pop("sign_secret", None) or secrets.token_hex(16),
                  message_key=values.pop("message_key", None)
                  or base64.b64encode(secrets.token_bytes(16)).decode(), **values)
        base64.b64decode(app.message_key, validate=True)
        self.apps[app_key] = app
        return app

    def add_shop(self, seller_id: int | None = None, open_id: str | None = None,
                 seller_nick: str | None = None, shop_name: str | None = None) -> Shop:
        seller_id = int(seller_id) if seller_id else self.next_id("seller")
        if seller_id in self.shops:
            raise ValueError(f"shop {seller_id} exists")
        shop = Shop(seller_id=seller_id,
                    open_id=open_id or hashlib.md5(f"shop-{seller_id}".encode()).hexdigest(),
                    seller_nick=seller_nick or f"seller_{seller_id}",
                    shop_name=shop_name or f"沙盒小店{seller_id}",
                    return_address_id=self.next_id("address"),
                    return_address="浙江省杭州市余杭区仓前街道文一西路1号 退货仓 0571-88888888")
        self.shops[seller_id] = shop
        return shop

    def default_shop(self) -> Shop | None:
        return next(iter(self.shops.values()), None)

    def apps_for_shop(self, seller_id: int, scope: str) -> list[App]:
        """Apps that currently hold an unrevoked grant with ``scope`` on this shop."""
        out = []
        for (app_key, sid), grant in self.grants.items():
            if sid == seller_id and not grant.revoked and scope in grant.scopes:
                app = self.apps.get(app_key)
                if app is not None:
                    out.append(app)
        return out

    # ---- logs ---------------------------------------------------------------------------
    def record_call(self, method: str, app_key: str | None, seller_id: int | None,
                    result: int, error_msg: str = "") -> None:
        now = self.now_ms()
        self.calls.append({"method": method, "appKey": app_key, "sellerId": seller_id,
                           "result": result, "errorMsg": error_msg, "atMs": now})

    def record_action(self, method: str, app_key: str, seller_id: int, param: dict,
                      result: int, error_msg: str = "", **details) -> dict:
        now = self.now_ms()
        entry = {"seq": self.next_id("action"), "method": method, "appKey": app_key,
                 "sellerId": seller_id, "param": param, "result": result, "ok": result == 1,
                 "errorMsg": error_msg, "atMs": now, "at": iso(now), **details}
        self.actions.append(entry)
        return entry
