"""``hub demo`` as a user runs it: a subprocess that starts the three sandboxes and the hub
(gunicorn + one scheduler process, SQLite in a temporary directory), plays the whole
scenario and prints a JSON summary — asserted here against the scenario's plan for five
orders. Also: the scenario's plan, the failure contract of the command, and the
``stop_ship_latency`` benchmark run with a tiny number of refunds."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from bench import harness
from demo import command as demo, report as demo_report
from demo.env import StepTimeout
from demo.world import PRODUCTS, SHIPPING_FEE

ORDERS = 5


def test_plan_gives_every_path_at_least_one_order():
    assert demo.plan(5) == ["stopped", "too_late", "intercepted", "returned", "delivered"]
    eight = demo.plan(8)
    assert len(eight) == 8 and eight.count("stopped") == 2 and eight.count("returned") == 2
    assert eight.count("too_late") == eight.count("intercepted") == 1
    with pytest.raises(ValueError):
        demo.plan(4)


def test_yuan_formats_fen():
    assert [demo_report.yuan(v) for v in (0, 5, 4590, 123456, -250)] == \
        ["¥0.00", "¥0.05", "¥45.90", "¥1,234.56", "-¥2.50"]


def test_a_step_past_its_deadline_exits_non_zero_and_says_which(monkeypatch, tmp_path):
    class Stuck:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def start(self):
            raise StepTimeout("the hub answering /healthz", 30)

        def log_tail(self):
            return "(no logs)"

    monkeypatch.setattr(demo, "DemoEnv", Stuck)
    result = CliRunner().invoke(demo.demo_command, ["--json"])
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert json.loads(first) == {"ok": False, "error": "the demo stopped: the hub answering "
                                                       "/healthz: did not happen within 30 s"}
    kept = tmp_path / "kept"
    (kept / "old").mkdir(parents=True)
    refused = CliRunner().invoke(demo.demo_command, ["--keep", str(kept)])
    assert refused.exit_code == 2 and "must be new or empty" in refused.output


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    proc = subprocess.run([sys.executable, "-m", "hub.cli", "demo", "--json", "--orders",
                           str(ORDERS)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.slow
def test_the_demo_plays_the_whole_scenario(demo_run):
    summary, _ = demo_run
    assert summary["ok"] is True
    paths = [o["path"] for o in summary["orders"]]
    assert paths == demo.plan(ORDERS) + ["exchanged", "repaired", "reshipped", "lost"]
    assert summary["totals"] == {
        "orders": 9, "order_value": demo_report.yuan(sum(o["amount_minor"]
                                                          for o in summary["orders"])),
        "dispatched": 9, "accepted": 9,
        "stop_ships": 3, "stop_ships_accepted": 1, "stop_ships_rejected": 2,
        "interceptions_ok": 1, "interceptions_failed": 1, "expected_returns": 2,
        "shipments_pushed_to_platform": 8, "parcels_delivered": 6, "returns_received": 3,
        "platform_refunds_approved": 2,
        "refunded": demo_report.yuan(sum(o["refund"]["amount_minor"] for o in summary["orders"]
                                         if o["path"] in ("stopped", "returned"))),
        "alerts_raised": 4,
        "alerts_by_kind": {"interception_failed": 1, "stop_ship_failed": 1,
                           "parcel_returning": 1, "parcel_problem": 1},  # the lost parcel
        "inbox_failed": 0, "outbox_dead": 0}
    # every kind of after-sale through the policy, inspection and disposition
    assert summary["returns"] == {
        "cases_by_kind": {"exchange": 1, "refund_only": 3, "repair": 1, "reship": 1,
                          "return_refund": 1},
        "policy_verdicts": {"approve:small_after_sales": 3, "manual:no_rule": 4},
        "approved_by_policy": 3,
        "labels_booked": 2,  # the quality faults: the return and the repair
        "inspections_by_grade": {"A": 2, "C": 1},
        "dispositions": {"repair": 1, "restock": 2},
        "second_dispatches": {"exchange:shipped": 1, "repair:shipped": 1, "reship:shipped": 1},
        "returns_stock_units": 2}  # the return and the exchange; a repair goes back
    # who pays: the repair's fault charged to the supplier (its claim sent at once), the
    # returned "fault" that came back intact (A) not claimed: the merchant pays, the size
    # exchange to the buyer, the two stop-ships the supplier refused to the merchant, the
    # lost parcel to the courier (up to its cap: three times the 800 fen freight); it was
    # shipped after three days had passed at the courier, past the platform's 48 h
    # ship-by: a late shipment the supplier pays, as the order reached it in time
    who = summary["liability"]
    assert who["decisions_by_rule"] == {"quality_defect": 1, "quality_not_confirmed": 1,
                                        "changed_mind": 1,
                                        "stop_ship_refused_or_late": 2,
                                        "lost_parcel_reported": 1, "late_shipment_supplier": 1}
    # the sandbox supplier accepts claims up to ¥50.00 and disputes larger ones; the
    # courier's is accepted when the merchant records it
    assert sum(who["claims_by_status"].values()) == 3
    assert set(who["claims_by_status"]) <= {"accepted", "disputed"}
    assert who["claims_by_status"]["accepted"] >= 1 and who["accepted_minor"] >= 3 * 800
    assert list(who["supplier_balances"]) == ["SBX"]
    # month end: the supplier's own statement, with five planted differences, matched
    money = summary["finance"]
    assert money["status"] == "closed" and money["lines"] >= 5
    assert money["match_lines"]["written_off"] == 2 and money["written_off_minor"] == 50
    assert money["match_lines"]["matched_with_difference"] == 2
    assert money["match_lines"]["only_in_hub"] == 1
    assert money["match_lines"]["only_in_supplier"] == 1
    assert money["match_lines"]["duplicate"] == 1
    assert money["disputes_decided"] == 4
    latency = summary["stop_ship_latency_ms"]
    assert latency["count"] == 3 and all(v > 0 for v in latency["values"])
    steps = " | ".join(s["step"] for s in summary["steps"])
    for expected in ("dispatched to the supplier and accepted", "stop-ship accepted",
                     "refund approved on the platform", "interception refused by the courier",
                     "parcel intercepted", "tracked to delivered",
                     "the supplier's receipt of the return", "the return refunded on the platform",
                     "approved on the platform by the merchant's policy",
                     "a prepaid return pickup booked", "the second parcel shipped and tracked"):
        assert expected in steps


@pytest.mark.slow
def test_every_order_ends_where_its_path_leads(demo_run):
    summary, _ = demo_run
    prices = {sku: price for sku, _title, price in PRODUCTS}
    for o in summary["orders"]:
        assert o["amount_minor"] == prices[o["sku"]] + SHIPPING_FEE
        assert o["amount"] == demo_report.yuan(o["amount_minor"])
        assert [e["t_s"] for e in o["timeline"]] == sorted(e["t_s"] for e in o["timeline"])
        f, ship, refund = o["fulfilment"], o["shipment"], o["refund"]
        assert f["requested_at"] and f["accepted_at"]
        if o["path"] == "stopped":
            assert f["status"] == "cancelled" and ship is None
            assert refund["paid"] and refund["platform_status"] == 60
            assert o["stop_ship_latency_ms"] > 0
        elif o["path"] in ("too_late", "intercepted"):
            assert f["status"] == "cancel_rejected" and f["expected_return"] is True
            assert ship["interception_status"] == ("failed" if o["path"] == "too_late"
                                                   else "succeeded")
            assert ship["status"] == ("delivered" if o["path"] == "too_late" else "returned")
            assert refund["paid"] is False and refund["hub_status"] == "requested"
        elif o["path"] == "lost":  # stalled at the courier: 超时未更新
            assert f["status"] == "shipped" and ship["status"] == "exception"
            assert refund is None
        else:
            assert f["status"] == "shipped" and ship["status"] == "delivered"
            assert ship["subscription_status"] == "done"
        if o["path"] == "returned":
            assert o["return_receipt"]["condition"] == "intact"
            assert refund["kind"] == "return and refund" and refund["paid"]
        if o["path"] in ("exchanged", "repaired", "reshipped"):
            assert refund["kind"] == {"exchanged": "exchange", "repaired": "repair",
                                      "reshipped": "reship"}[o["path"]]
            assert (o["return_receipt"] is None) == (o["path"] == "reshipped")
        if o["path"] == "delivered":
            assert refund is None and o["return_receipt"] is None


@pytest.mark.slow
def test_the_demo_leaves_nothing_running(demo_run):
    summary, stderr = demo_run
    assert summary["var_dir"] is None and "Traceback" not in stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{summary['hub_url']}/healthz", timeout=5)
    text = demo_report.render(summary)
    assert "Totals" in text and "stop-ship latency" in text
    assert f"All {len(summary['steps'])} steps happened" in text


@pytest.mark.slow
def test_the_stop_ship_benchmark_is_registered_and_writes_its_figures(monkeypatch, tmp_path):
    registry = harness.load_all()
    assert "stop_ship_latency" in registry
    monkeypatch.setattr(registry["stop_ship_latency"], "params",
                        {"refunds": 2, "warmup": 0, "rate_per_s": 20.0, "deadline_s": 30.0})
    doc = harness.run("stop_ship_latency", results_dir=tmp_path)
    written = json.loads((tmp_path / "stop_ship_latency.json").read_text())
    figures = {f["metric"]: f for f in written["figures"]}
    assert set(figures) == {"p50_ms", "p95_ms", "p99_ms", "stop_ships"}
    assert figures["stop_ships"]["value"] == 2 and figures["stop_ships"]["ratio"] == 1.0
    assert (figures["p95_ms"]["baseline_name"], figures["p95_ms"]["baseline_value"]) == \
        ("target", 2000.0)
    assert figures["p50_ms"]["baseline_name"] is None and figures["p50_ms"]["value"] > 0
    assert doc["params"]["refunds"] == 2
