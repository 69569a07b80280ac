"""The ``reconcile`` benchmark: registered at the issue's sizes; its planted data and its
scoring catch what they should; a tiny run (three child processes) finds every planted
difference with no false alarm and writes the documented figures (no timing assertions:
the numbers depend on the machine)."""
from __future__ import annotations

import json
import resource
import subprocess
import sys

import polars as pl
import pytest

from bench import harness, reconcile
from hub.domain.finance import matching
from hub.domain.finance.rules import Rules

KEYS = {"metric", "unit", "value", "baseline_name", "baseline_value", "ratio", "target", "met"}


def test_registered_at_a_million_lines_and_two_with_full():
    registry = harness.load_all()
    assert "bench.reconcile" in harness.MODULES
    assert registry["reconcile"].params == {"lines": 1_000_000}
    assert registry["reconcile"].full == {"lines": 2_000_000}


@pytest.fixture(scope="module")
def small():
    data = reconcile.generate(3_000, seed=7)
    result = matching.match(data.hub, data.supplier, Rules.of(None))
    outcomes = result.lines.join(result.groups.select("group", "outcome"), on="group")
    return data, outcomes.select("side", "id", "outcome")


def test_the_data_are_deterministic_realistic_and_planted_as_documented(small):
    data, _ = small
    again = reconcile.generate(3_000, seed=7)
    assert data.hub.equals(again.hub) and data.supplier.equals(again.supplier)
    assert not data.supplier.equals(reconcile.generate(3_000, seed=8).supplier)
    assert data.hub.schema == data.supplier.schema == pl.Schema(matching.COLUMNS)
    hub = data.hub
    assert hub.height == 3_000 and hub["id"].n_unique() == 3_000
    assert hub["document_ref"].str.contains(r"^(FUL|CLM)-\d{8}$").all()
    assert hub["document_ref"].n_unique() == 3_000
    assert hub["order_no"].str.contains(r"^KS2611\d+$").all()
    assert hub["waybill"].str.contains(r"^SF\d{12}$").all()
    assert hub["line_ref"].null_count() == 3_000
    assert hub["amount_minor"].is_between(500, 200_000).all()
    assert hub["day"].dt.month().unique().to_list() == [11]
    assert hub["order_no"].n_unique() < 3_000  # orders of several lines

    touched = data.touched
    per_kind = touched.group_by("kind").agg(pl.col("diff").n_unique())
    counts = dict(per_kind.iter_rows())
    assert set(counts) == set(reconcile.KINDS)
    assert all(9 <= n <= 10 for n in counts.values())  # 2 % of 3,000 over six kinds
    assert touched["id"].null_count() == 0
    assert touched.select("side", "id").n_unique() == touched.height  # kinds are disjoint
    assert data.supplier.height == 3_000 - counts["missing"] + counts["extra"] \
        + counts["duplicate"]

    supplier = data.supplier
    hub_ids = lambda kind, exp: touched.filter(  # noqa: E731
        (pl.col("kind") == kind) & (pl.col("side") == "hub") & (pl.col("expect") == exp))
    missing = hub.join(hub_ids("missing", "only_in_hub"), on="id", how="semi")
    assert missing.join(supplier, on="document_ref", how="semi").height == 0
    both = hub.join(supplier, on="document_ref", suffix="_s")
    beyond = both.join(hub_ids("beyond_tolerance", "matched_with_difference"), on="id",
                       how="semi")
    assert ((beyond["amount_minor"] - beyond["amount_minor_s"]).abs() > 100).all()
    within = both.join(hub_ids("within_tolerance", "written_off"), on="id", how="semi")
    assert (within["amount_minor"] - within["amount_minor_s"]).abs().is_between(1, 100).all()
    swapped = both.join(hub_ids("swapped", "matched_with_difference"), on="id", how="semi")
    assert (swapped["waybill"] != swapped["waybill_s"]).all()
    assert (swapped["amount_minor"] == swapped["amount_minor_s"]).all()


def test_the_hub_finds_every_planted_difference(small):
    data, outcomes = small
    got = reconcile.score(outcomes, data.touched)
    assert got["found"] == got["planted"] and got["false_alarms"] == 0


def test_the_score_counts_a_miss_and_a_false_alarm(small):
    data, outcomes = small
    touched = data.touched
    [(kind, side, id_)] = touched.filter(pl.col("expect") == "written_off").head(1) \
        .select("kind", "side", "id").rows()
    [(clean_side, clean_id)] = outcomes.join(touched, on=["side", "id"], how="anti") \
        .head(1).select("side", "id").rows()
    [(copy_id,)] = outcomes.filter(pl.col("outcome") == "duplicate").head(1) \
        .select("id").rows()  # either copy of a repeated line may be the one flagged

    def set_outcome(frame, side_, id__, outcome):
        hit = (pl.col("side") == side_) & (pl.col("id") == id__)
        return frame.with_columns(outcome=pl.when(hit).then(pl.lit(outcome))
                                  .otherwise("outcome"))

    tampered = set_outcome(outcomes, side, id_, "matched")
    tampered = set_outcome(tampered, clean_side, clean_id, "written_off")
    tampered = set_outcome(tampered, "supplier", copy_id, "matched")  # no copy flagged
    got = reconcile.score(tampered, touched)
    assert got["found"][kind] == got["planted"][kind] - 1
    assert got["found"]["duplicate"] == got["planted"]["duplicate"] - 1
    assert got["false_alarms"] == 1
    assert got["false_alarm_examples"] == [(clean_side, clean_id, "written_off")]
    # a line left out of the result is not found either
    got = reconcile.score(outcomes.filter(~((pl.col("side") == side) & (pl.col("id") == id_))),
                          touched)
    assert got["found"][kind] == got["planted"][kind] - 1


def test_a_child_reports_its_own_peak_not_its_parents():
    hoard = bytearray(300 * 1024 * 1024)  # touched: resident in this process
    hoard[::4096] = b"\1" * len(hoard[::4096])
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = subprocess.run([sys.executable, "-c", "from bench.reconcile import _peak_mb; "
                           "print(_peak_mb())"], cwd=reconcile.ROOT, capture_output=True,
                          text=True, check=True)
    del hoard
    assert parent_mb > 300 and 0 < float(done.stdout) < 150


@pytest.fixture
def tiny(monkeypatch):
    registry = harness.load_all()
    bench = registry["reconcile"]
    monkeypatch.setitem(registry, "reconcile", harness.Benchmark(
        "reconcile", bench.fn, {**bench.params, "lines": 20_000}, {}, bench.description))


@pytest.mark.slow
def test_a_tiny_run_finds_every_planted_difference(tiny, tmp_path):
    harness.run("reconcile", results_dir=tmp_path)
    doc = json.loads((tmp_path / "reconcile.json").read_text())
    figures = {f["metric"]: f for f in doc["figures"]}
    assert list(figures) == ["match_s", "match_s_vs_duckdb", "peak_mb", "differences_found",
                             "false_alarms"]
    assert all(set(f) == KEYS for f in figures.values())
    match_s = figures["match_s"]
    assert match_s["baseline_name"] == "pandas_merge_s" and match_s["target"] == "ratio <= 1"
    assert match_s["value"] > 0 and match_s["baseline_value"] > 0
    assert figures["match_s_vs_duckdb"]["baseline_name"] == "duckdb_join_s"
    assert figures["match_s_vs_duckdb"]["value"] == match_s["value"]
    assert figures["match_s_vs_duckdb"]["baseline_value"] > 0
    peak = figures["peak_mb"]
    assert peak["baseline_name"] == "pandas_peak_mb" and peak["target"] == "value <= 1024"
    assert 0 < peak["value"] < 1024 and peak["baseline_value"] > 0

    params = doc["params"]
    found = figures["differences_found"]
    assert found["baseline_name"] == "differences_planted" and found["met"] is True
    assert found["value"] == found["baseline_value"] == sum(params["planted"].values()) > 350
    assert params["found"] == params["planted"]
    assert set(params["planted"]) == set(reconcile.KINDS)
    assert figures["false_alarms"]["value"] == 0 and figures["false_alarms"]["met"] is True

    assert params["lines"] == params["hub_lines"] == 20_000
    assert sum(params["outcomes"].values()) == params["hub_lines"] + params["supplier_lines"]
    assert params["outcomes"]["duplicate"] == params["planted"]["duplicate"]
    assert params["outcomes"]["only_in_hub"] == params["planted"]["missing"]
    assert params["pandas_joined_rows"] == params["duckdb_joined_rows"] > 20_000
    for engine in reconcile.ENGINES:
        assert len(params[f"{engine}_times_s"]) == 3
        assert params[f"{engine}_peak_mb"] >= params[f"{engine}_read_peak_mb"] > 0
