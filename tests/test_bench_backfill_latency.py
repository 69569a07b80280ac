"""The ``backfill`` and ``event_latency`` benchmarks are registered, and tiny runs write
the documented figures (no timing assertions: the numbers depend on the machine)."""
from __future__ import annotations

import json

import pytest

from bench import harness

KEYS = {"metric", "unit", "value", "baseline_name", "baseline_value", "ratio", "target", "met"}


def test_both_are_registered_with_quick_and_full_sizes():
    registry = harness.load_all()
    assert registry["backfill"].params["orders"] == 10_000
    assert registry["backfill"].full["orders"] == 100_000
    assert "event_latency" in registry and registry["event_latency"].full["orders"] > \
        registry["event_latency"].params["orders"]


@pytest.fixture
def tiny(monkeypatch):
    """Shrink a registered benchmark's quick sizes for one test."""
    registry = harness.load_all()

    def shrink(name, **params):
        monkeypatch.setitem(registry, name, harness.Benchmark(
            name, registry[name].fn, {**registry[name].params, **params}, {},
            registry[name].description))

    return shrink


@pytest.mark.slow
def test_a_tiny_backfill_writes_orders_per_s_beside_the_raw_download(tiny, tmp_path):
    tiny("backfill", orders=120)
    harness.run("backfill", results_dir=tmp_path)
    doc = json.loads((tmp_path / "backfill.json").read_text())
    [figure] = doc["figures"]
    assert set(figure) == KEYS
    assert figure["metric"] == "orders_per_s" and figure["baseline_name"] == "raw_download"
    assert figure["value"] > 0 and figure["baseline_value"] > 0 and figure["ratio"] > 0
    assert figure["target"] == "ratio >= 0.3" and figure["met"] == (figure["ratio"] >= 0.3)
    assert doc["params"]["orders"] == 120 and doc["params"]["raw_pages"] >= 13
    assert "raised" in doc["params"]["rate_limits"]


@pytest.mark.slow
def test_a_tiny_event_latency_run_writes_p50_and_p99(tiny, tmp_path):
    tiny("event_latency", orders=4, warmup=1, rate_per_s=10.0)
    harness.run("event_latency", results_dir=tmp_path)
    doc = json.loads((tmp_path / "event_latency.json").read_text())
    figures = {f["metric"]: f for f in doc["figures"]}
    assert set(figures) == {"p50_ms", "p99_ms", "orders_seen"}
    assert 0 < figures["p50_ms"]["value"] <= figures["p99_ms"]["value"]
    assert figures["p99_ms"]["baseline_name"] == "target"
    assert figures["orders_seen"]["value"] == figures["orders_seen"]["baseline_value"] == 4
