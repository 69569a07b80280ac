"""The courier sandbox's state and rules: accounts, parcels on scenario timelines,
Kuaidi100-style subscriptions and pushes, the real-time query, and interceptions.

Time is virtual (``now``), moved only by the control API (``advance``, ``fast_forward``),
so a test decides when each step of a parcel's journey happens; or, with ``time_scale``
(``live``), it follows the wall clock and journeys run ``time_scale`` times faster (720: a
day in two minutes), so a demo world sees parcels delivered with plausible times. Whenever time moves,
every active subscription is pushed one snapshot per newly visible step (full history,
newest first), in order, unless a misbehaviour says otherwise.

The real-time query, the interception API and pickup bookings live in ``query.py``,
``interception.py`` and ``pickup.py``. Nothing here imports the hub: signing and payloads are
re-implemented from the Kuaidi100 documentation (see ``reference/couriers.md`` §1).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from sandbox.courier import scenarios
from sandbox.courier.pusher import Pusher

CHINA = timezone(timedelta(hours=8))
PHONE_CARRIERS = {"shunfeng", "zhongtong"}
SUPPORTED = {"shunfeng", "zhongtong", "yuantong", "shentong", "yunda", "jd", "ems",
             "jtexpress", "debangkuaidi", "debangwuliu", "zhaijisong", "youzhengguonei",
             "huitongkuaidi"}
PREFIXES = {"SF": "shunfeng", "YT": "yuantong", "JT": "jtexpress", "JD": "jd",
            "ZT": "zhongtong", "ST": "shentong", "YD": "yunda", "EMS": "ems"}
MAX_PER_MONTH = 4
RESUBSCRIBE_AFTER = timedelta(minutes=30)
QUERY_JITTER_S = 0.1      # 1 query/s per customer, measured on arrival: allow network jitter
DEFAULT_ACCOUNT = {"key": "sandbox-key", "customer": "SANDBOXCUSTOMER",
                   "secret": "sandbox-secret", "expired": False}


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def fmt(when: datetime) -> str:
    return when.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


class SandboxError(ValueError):
    """Bad input to the control API (answered 400 with the message)."""


class Sandbox:
    def __init__(self, retry_interval_s: float = 2.0, start: datetime | None = None,
                 push_timeout_s: float = 20.0):
        self.lock = threading.RLock()
        self.pusher = Pusher(retry_interval_s, push_timeout_s)
        self.time_scale = 1.0
        self.stopping = threading.Event()
        self.reset(start=start)

    def live(self, time_scale: float, tick_s: float = 1.0) -> None:
        """Follow the wall clock from now on, journeys ``time_scale`` times faster."""
        self.time_scale = float(time_scale)

        def follow():
            while not self.stopping.wait(tick_s):
                with self.lock:
                    self.now = max(self.now, datetime.now(CHINA))
                    self._tick()

        threading.Thread(target=follow, name="courier-clock", daemon=True).start()

    # -- control ---------------------------------------------------------------------------
    def reset(self, start: datetime | None = None, accounts: list[dict] | None = None,
              retry_interval_s: float | None = None) -> None:
        with self.lock:
            self.pusher.flush(timeout=2.0)
            self.pusher.clear()
            if retry_interval_s is not None:
                self.pusher.retry_interval_s = float(retry_interval_s)
            now = start or datetime.now(CHINA).replace(second=0, microsecond=0)
            self.now = now if now.tzinfo else now.replace(tzinfo=CHINA)
            self.accounts = {a["key"]: {**DEFAULT_ACCOUNT, **a}
                             for a in (accounts or [DEFAULT_ACCOUNT])}
            self.parcels: dict[str, dict] = {}
            self.subscriptions: list[dict] = []
            self.interceptions: dict[str, dict] = {}
            self.bookings: dict[str, dict] = {}      # thirdOrderId (else taskId) -> pickup
            self.queries: dict[str, float] = {}      # customer -> last query (monotonic)
            self.misbehaviour = {"duplicate": False, "out_of_order": False,
                                 "bad_signature": False, "drop": False}
            self._task_ids = itertools.count(1)

    def add_account(self, account: dict) -> dict:
        if not account.get("key"):
            raise SandboxError("account needs a key")
        with self.lock:
            self.accounts[account["key"]] = {**DEFAULT_ACCOUNT, **account}
            return self.accounts[account["key"]]

    def add_parcel(self, number: str, com: str, scenario: str = "normal",
                   phone: str | None = None) -> dict:
        if scenario not in scenarios.SCENARIOS:
            raise SandboxError(f"unknown scenario {scenario!r}; "
                               f"known: {', '.join(scenarios.SCENARIOS)}")
        if not number or not com:
            raise SandboxError("a parcel needs a number and a com")
        with self.lock:
            parcel = {"number": number, "com": com, "scenario": scenario, "phone": phone,
                      "created_at": self.now,
                      "steps": copy.deepcopy(scenarios.SCENARIOS[scenario])}
            self.parcels[number] = parcel
            return self.parcel_view(parcel)

    def set_misbehaviour(self, **flags) -> dict:
        with self.lock:
            for key, value in flags.items():
                if key not in self.misbehaviour:
                    raise SandboxError(f"unknown misbehaviour {key!r}; "
                                       f"known: {', '.join(self.misbehaviour)}")
                self.misbehaviour[key] = bool(value)
            return dict(self.misbehaviour)

    def advance(self, minutes: float) -> int:
        if minutes < 0:
            raise SandboxError("time only moves forward")
        with self.lock:
            self.now += timedelta(minutes=minutes)
            return self._tick()

    def fast_forward(self, number: str, steps: int | None = None) -> int:
        """Move time to this parcel's next ``steps`` steps (all when None) and push."""
        with self.lock:
            parcel = self._parcel(number)
            visible = len(self.visible(parcel))
            target = len(parcel["steps"]) if steps is None else min(len(parcel["steps"]),
                                                                    visible + max(1, steps))
            if target > visible:
                when = self.step_time(parcel, parcel["steps"][target - 1])
                self.now = max(self.now, when)
            return self._tick()

    def replay(self, number: str, steps: int) -> int:
        """Push an old snapshot (the first ``steps`` steps) again, now: a late push."""
        with self.lock:
            parcel = self._parcel(number)
            count = 0
            for sub in self._subs_for(number):
                if sub["pushed"] >= 1:
                    shown = self.visible(parcel)[:max(1, min(steps, sub["pushed"]))]
                    snapshot = [s for s in shown if "code" in s]
                    self._send_tracking(sub, parcel, snapshot, "polling")
                    count += 1
            return count

    # -- views -----------------------------------------------------------------------------
    def visible(self, parcel: dict) -> list[dict]:
        return [s for s in parcel["steps"] if self.step_time(parcel, s) <= self.now]

    def step_time(self, parcel: dict, step: dict) -> datetime:
        return parcel["created_at"] + timedelta(minutes=step["at"] / self.time_scale)

    def latest_code(self, parcel: dict) -> str | None:
        codes = [s["code"] for s in self.visible(parcel) if "code" in s]
        return codes[-1] if codes else None

    def parcel_view(self, parcel: dict) -> dict:
        return {"number": parcel["number"], "com": parcel["com"],
                "scenario": parcel["scenario"], "created_at": fmt(parcel["created_at"]),
                "state": self.latest_code(parcel), "visible_steps": len(self.visible(parcel)),
                "steps": [{**s, "time": fmt(self.step_time(parcel, s))} for s in parcel["steps"]]}

    def _parcel(self, number: str) -> dict:
        parcel = self.parcels.get(number)
        if parcel is None:
            raise SandboxError(f"no parcel {number!r}")
        return parcel

    def _subs_for(self, number: str) -> list[dict]:
        return [s for s in self.subscriptions if s["number"] == number and s["active"]]

    # -- Kuaidi100: subscribe --------------------------------------------------------------
    def subscribe(self, form: dict) -> dict:
        """``POST /poll``: the answer body (always HTTP 200, ``returnCode`` says how)."""
        def answer(code: str, message: str) -> dict:
            return {"result": code == "200", "returnCode": code, "message": message}

        if form.get("schema", "json") != "json":
            return answer("700", "schema 只支持 json")
        try:
            param = json.loads(form.get("param") or "")
        except ValueError:
            return answer("700", "param 不是合法的 JSON")
        if not isinstance(param, dict):
            return answer("700", "param 不是合法的 JSON 对象")
        with self.lock:
            account = self.accounts.get(param.get("key") or "")
            if account is None:
                return answer("600", "您不是合法的订阅者（即授权Key出错）")
            if account.get("expired"):
                return answer("601", "POLL:KEY已过期")
            number = str(param.get("number") or "").strip()
            parameters = param.get("parameters") or {}
            if not number or not isinstance(parameters, dict):
                return answer("700", "订阅参数不完整：number 和 parameters 必填")
            callback = str(parameters.get("callbackurl") or "")
            if urlsplit(callback).scheme not in ("http", "https") or not urlsplit(callback).netloc:
                return answer("700", "callbackurl 不是合法的 http(s) 地址")
            com = str(param.get("company") or "").strip().lower()
            if str(parameters.get("autoCom") or "0") == "1" and not com:
                com = self._detect(number)
                if com is None:
                    return answer("702", "POLL:识别不到该单号对应的快递公司")
            if not com:
                return answer("700", "company 必填（或 autoCom=1）")
            if com not in SUPPORTED:
                return answer("701", f"不支持的快递公司 {com}")
            phone = str(parameters.get("phone") or "")
            if com in PHONE_CARRIERS and len(phone) < 4:
                return answer("700", "顺丰、中通单号订阅需提供收件人手机号或后四位")
            parcel = self.parcels.get(number)
            if parcel is None:                   # an unknown number gets the normal journey
                parcel = self.parcels[number] = {
                    "number": number, "com": com, "scenario": "normal", "phone": phone or None,
                    "created_at": self.now, "steps": copy.deepcopy(scenarios.SCENARIOS["normal"])}
            if parcel["phone"] and parcel["com"] in PHONE_CARRIERS \
                    and parcel["phone"][-4:] != phone[-4:]:
                return answer("700", "手机号后四位与运单不符")
            if any(s["com"] == com for s in self._subs_for(number)):
                return answer("501", "POLL:重复订阅")
            history = [s for s in self.subscriptions if s["number"] == number and s["com"] == com]
            month = [s for s in history if s["subscribed_at"].astimezone(CHINA).strftime("%Y%m")
                     == self.now.astimezone(CHINA).strftime("%Y%m")]
            if len(month) >= MAX_PER_MONTH:
                return answer("700", "POLL:本月订阅次数已达上限（4次）")
            ended = [s["ended_at"] for s in history if s["ended_at"] is not None]
            if ended and self.now - max(ended) < RESUBSCRIBE_AFTER:
                return answer("700", "POLL:监控结束后30分钟内不能重新订阅")
            self.subscriptions.append({
                "id": len(self.subscriptions) + 1, "key": param["key"], "com": com,
                "number": number, "callbackurl": callback,
                "salt": parameters.get("salt"), "resultv2": str(parameters.get("resultv2") or "0"),
                "phone": phone or None, "auto_com": str(parameters.get("autoCom") or "0"),
                "active": True, "pushed": 0, "corrected": False,
                "catch_up": len(self.visible(parcel)),
                "subscribed_at": self.now, "ended_at": None, "end_status": None,
                "param": param})
            return answer("200", "提交成功")

    def _detect(self, number: str) -> str | None:
        if number in self.parcels:
            return self.parcels[number]["com"]
        for prefix in sorted(PREFIXES, key=len, reverse=True):
            if number.upper().startswith(prefix):
                return PREFIXES[prefix]
        return None

    # -- pushing ---------------------------------------------------------------------------
    def _tick(self) -> int:
        """Push every active subscription its newly visible steps; the count queued."""
        jobs: list[tuple] = []
        for sub in [s for s in self.subscriptions if s["active"]]:
            parcel = self.parcels[sub["number"]]
            visible = self.visible(parcel)
            if sub["com"] != parcel["com"] and not sub["corrected"]:
                sub["corrected"] = True          # Kuaidi100 autoCheck: abort the old code
                jobs.append((sub, parcel, [], "abort"))
            new = range(sub["pushed"], len(visible))
            if sub["pushed"] == 0 and sub["catch_up"] > 1:     # the first push catches up
                new = range(min(sub["catch_up"], len(visible)) - 1, len(visible))
            for i in new:
                step = visible[i]
                snapshot = [s for s in visible[:i + 1] if "code" in s]
                if "abort" in step:
                    status = "abort"
                elif scenarios.finished(step.get("code")):
                    status = "shutdown"
                else:
                    status = "polling"
                jobs.append((sub, parcel, snapshot, status, step.get("abort")))
                sub["pushed"] = i + 1
                if status != "polling":
                    sub.update(active=False, ended_at=self.now, end_status=status)
                    break
        if self.misbehaviour["out_of_order"]:
            jobs.reverse()
        for job in jobs:
            self._send_tracking(*job)
        return len(jobs)

    def tracking_param(self, sub: dict, parcel: dict, snapshot: list[dict], status: str,
                       message: str | None = None) -> dict:
        advanced = sub["resultv2"] in ("4", "8")
        corrected = sub["com"] != parcel["com"]
        com = parcel["com"] if corrected and status != "abort" else sub["com"]
        data = []
        for step in reversed(snapshot):
            code = step["code"] if advanced else scenarios.main_code(step["code"])
            item = {"time": fmt(self.step_time(parcel, step)), "context": step["context"],
                    "ftime": fmt(self.step_time(parcel, step)), "areaCode": None,
                    "areaName": None, "status": scenarios.NAMES.get(code, ""), "location": ""}
            if advanced:
                item["statusCode"] = code
            data.append(item)
        state = data[0].get("statusCode") if advanced and data else (
            scenarios.main_code(snapshot[-1]["code"]) if snapshot else "0")
        if status == "abort" and corrected and not snapshot:
            message = message or f"快递公司编码错误，已自动纠正为 {parcel['com']}"
        param = {"status": status, "billstatus": "check" if status == "shutdown" else "",
                 "message": message or "",
                 "autoCheck": "1" if corrected else "0",
                 "comOld": sub["com"] if corrected else "",
                 "comNew": parcel["com"] if corrected else "",
                 "lastResult": {"message": "ok", "nu": parcel["number"],
                                "ischeck": "1" if status == "shutdown" else "0",
                                "condition": "00", "com": com, "status": "200",
                                "state": state, "data": data}}
        return param

    def _send_tracking(self, sub, parcel, snapshot, status, message=None) -> None:
        param = self.tracking_param(sub, parcel, snapshot, status, message)
        self._send("tracking", sub["callbackurl"], param, sub["salt"],
                   {"number": parcel["number"], "status": status, "steps": len(snapshot)})

    def _send(self, kind: str, url: str, param: dict, salt: str | None, meta: dict) -> None:
        if self.misbehaviour["drop"]:
            return
        text = dumps(param)
        form = {"param": text}
        if salt is not None:
            form["sign"] = md5_upper(text + (salt + "x" if self.misbehaviour["bad_signature"]
                                             else salt))
        for _ in range(2 if self.misbehaviour["duplicate"] else 1):
            self.pusher.enqueue(kind, url, form, meta)

    # -- read-back -------------------------------------------------------------------------
    def subscriptions_view(self) -> list[dict]:
        with self.lock:
            return [{**{k: v for k, v in s.items() if k not in ("subscribed_at", "ended_at")},
                     "subscribed_at": fmt(s["subscribed_at"]),
                     "ended_at": fmt(s["ended_at"]) if s["ended_at"] else None}
                    for s in self.subscriptions]

    def close(self) -> None:
        self.stopping.set()
        self.pusher.close()
