"""``hub run --sandbox`` (what ``make run`` starts): the hub and the three sandboxes as one
supervised family of processes, linked, with orders arriving -- by push, and by polling
when every push is lost -- and the world living (``demo.life``): parcels delivered,
returns inspected, claims answered, a statement answered."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from demo.env import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> dict[int, str]:
    """Every live descendant of ``pid``: {pid: command line}."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            try:
                found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes() \
                    .replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(what: str, predicate, timeout: float, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def test_run_sandbox_links_a_shop_orders_arrive_by_push_and_by_polling(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_VAR_DIR=str(tmp_path), HUB_PORT=str(port), HUB_HOST="127.0.0.1",
               HUB_WEB_WORKERS="1", HUB_LOG_LEVEL="WARNING",
               HUB_SANDBOX_POLL_INTERVAL_S="5",  # so lost pushes are caught up quickly
               HUB_SANDBOX_SCENARIO=json.dumps({"interval_s": 1, "seed": 3,
                                                "refund_after_shipment": 0.4}),
               HUB_SANDBOX_TIME_SCALE="2880",  # a day in 30 s
               HUB_SANDBOX_STATEMENT_AFTER_S="20",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run", "--sandbox"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in proc.stdout],
                              daemon=True)
    reader.start()

    def printed(pattern: str):
        for line in list(lines):
            found = re.search(pattern, line)
            if found:
                return found
        return None

    try:
        _wait("the banner", lambda: printed(r"Console: ") or proc.poll() is not None, 40)
        assert proc.poll() is None, "".join(lines)
        url = printed(r"running at (http://\S+)").group(1)
        token = printed(r"token \(new on every start, shown once\): (hub_\S+)").group(1)
        ks = printed(r"Kuaishou platform (http://\S+?),").group(1)
        assert url == f"http://127.0.0.1:{port}"
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"

        def orders():
            resp = api.get(f"{url}/api/v1/orders", params={"limit": 100}, timeout=5)
            assert resp.status_code == 200, resp.text
            return resp.json()["data"]

        _wait("orders from the scenario in the API", lambda: len(orders()) >= 2, 20)

        # each role signs in to the console with what the banner printed
        for role in ("merchant_admin", "operator", "finance", "supplier"):
            login, password = printed(rf"  {role} +login (\S+) +password (\S+)").groups()
            browser = requests.Session()
            form = browser.get(f"{url}/console/sign-in", timeout=5).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            signed = browser.post(f"{url}/console/sign-in", timeout=5, data={
                "login": login, "password": password, "csrf_token": csrf})
            assert signed.status_code == 200 and "/console/sign-in" not in signed.url, role

        # the world lives: parcels delivered, returns sent back and inspected (some
        # damaged: a claim to the supplier), the month's statement sent and answered
        def listed(path):
            resp = api.get(f"{url}/api/v1/{path}", params={"limit": 100}, timeout=5)
            assert resp.status_code == 200, resp.text
            return resp.json()["data"]

        _wait("a parcel delivered", lambda: any(
            x["status"] == "delivered" for x in listed("shipments")), 90)
        _wait("a return inspected", lambda: any(
            x["status"] in ("inspected", "refunded") and x["kind"] == "return_refund"
            for x in listed("returns")), 90)
        _wait("a claim answered by the supplier", lambda: any(
            x["status"] in ("accepted", "partly_accepted", "disputed")
            for x in listed("claims")), 90)
        _wait("the month's statement answered", lambda: any(
            x["status"] in ("supplier_confirmed", "disputed") for x in listed("statements")), 90)

        # every push lost on purpose: the order still arrives, by polling
        app_key = requests.get(f"{ks}/_sandbox/apps", timeout=5).json()[0]["appKey"]
        requests.put(f"{ks}/_sandbox/apps/{app_key}/misbehaviour", json={"dropRate": 1.0},
                     timeout=5).raise_for_status()
        made = requests.post(f"{ks}/_sandbox/orders", json={
            "paid": True, "item": {"skuNick": "LAMP-03", "itemTitle": "lamp", "price": 12900}},
            timeout=5).json()
        oid = str(made["oid"])
        pushes = requests.get(f"{ks}/_sandbox/pushes", params={"bizId": oid}, timeout=5).json()
        assert pushes and all(p["state"] == "dropped" for p in pushes)
        _wait("the unpushed order, polled", lambda: any(
            o["platform_order_id"] == oid for o in orders()), 20)

        family = _children(proc.pid)
        for name in ("sandbox.kuaishou", "sandbox.courier", "sandbox.supplier", "hub.web.wsgi:app",
                     "hub.cli scheduler"):
            assert any(name in cmd for cmd in family.values()), (name, family)
    finally:
        family = _children(proc.pid) if proc.poll() is None else {}
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            reader.join(timeout=5)
            proc.stdout.close()
    assert proc.returncode == 0, "".join(lines[-40:])
    left = {pid: cmd for pid, cmd in family.items() if _alive(pid)}
    assert not left, left
