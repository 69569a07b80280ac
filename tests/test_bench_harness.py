"""The benchmark harness writes the documented results file and prints the table.

Runs a trivial registered benchmark (no server, no timing assertions); the load generator
is exercised against a tiny in-process HTTP server for its counting, not its speed.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import harness
from bench.__main__ import main as bench_main
from bench.load import build_requests, run_phase

KEYS = {"metric", "unit", "value", "baseline_name", "baseline_value", "ratio", "target", "met"}


@pytest.fixture
def trivial():
    @harness.benchmark("trivial_test", params={"size": 3}, full={"size": 30})
    def trivial_bench(params):
        params["seen"] = params["size"] * 2
        return [harness.Figure("things_per_s", "1/s", 150.0, "bare", 300.0,
                               target="ratio >= 0.6"),
                harness.Figure("count", "rows", params["size"], target="value <= 3")]

    yield harness.REGISTRY["trivial_test"]
    harness.REGISTRY.pop("trivial_test", None)


def test_run_writes_the_documented_json(trivial, tmp_path):
    doc = harness.run("trivial_test", full=False, results_dir=tmp_path / "results")
    written = json.loads((tmp_path / "results" / "trivial_test.json").read_text())
    assert set(written) == {"name", "params", "at", "figures"}
    assert written["name"] == "trivial_test"
    assert written["params"] == {"size": 3, "full": False, "seen": 6}
    assert written["at"].endswith("+00:00")
    first, second = written["figures"]
    assert set(first) == KEYS and set(second) == KEYS
    assert first == {"metric": "things_per_s", "unit": "1/s", "value": 150.0,
                     "baseline_name": "bare", "baseline_value": 300.0, "ratio": 0.5,
                     "target": "ratio >= 0.6", "met": False}
    assert second["baseline_name"] is None and second["baseline_value"] is None
    assert second["ratio"] is None
    assert (second["target"], second["met"]) == ("value <= 3", True)
    assert doc["path"].endswith("trivial_test.json")


def test_full_params_override(trivial, tmp_path):
    harness.run("trivial_test", full=True, results_dir=tmp_path)
    written = json.loads((tmp_path / "trivial_test.json").read_text())
    assert written["params"]["size"] == 30 and written["params"]["full"] is True


def test_table_lists_every_figure(trivial):
    table = harness.format_table("trivial_test", trivial.fn(trivial.params_for(False)))
    lines = table.splitlines()
    assert lines[0] == "== trivial_test =="
    assert lines[1].split() == ["metric", "unit", "value", "baseline", "baseline", "value",
                                "ratio", "target"]
    assert lines[3].split() == ["things_per_s", "1/s", "150", "bare", "300", "0.50",
                                "ratio", "≥", "0.6:", "NOT", "met"]
    assert lines[4].split() == ["count", "rows", "3", "-", "-", "-", "value", "≤", "3:", "met"]


def test_cli_runs_named_benchmarks_and_prints_the_table(trivial, tmp_path, capsys):
    assert bench_main(["trivial_test", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "== trivial_test ==" in out and "things_per_s" in out
    assert (tmp_path / "trivial_test.json").exists()
    assert bench_main(["no_such_benchmark"]) == 2


def test_cli_exits_non_zero_when_a_benchmark_fails(tmp_path, capsys):
    @harness.benchmark("failing_test")
    def failing(params):
        raise harness.BenchmarkFailed("lost rows")

    try:
        assert bench_main(["failing_test", "--results-dir", str(tmp_path)]) == 1
    finally:
        harness.REGISTRY.pop("failing_test", None)
    assert "FAILED failing_test: lost rows" in capsys.readouterr().err
    assert not (tmp_path / "failing_test.json").exists()


def test_ingest_is_registered():
    assert "ingest" in harness.load_all()


def _echo_factory(n, prefix="x"):
    return [({"x-id": f"{prefix}{i}"}, f"body {i}".encode()) for i in range(n)]


def test_load_generator_counts_answers():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            seen.append(self.rfile.read(int(self.headers["Content-Length"])))
            status = 200 if self.headers["x-id"] != "t3" else 409
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = {"host": "127.0.0.1", "port": server.server_address[1], "method": "POST",
                "path": "/hook", "mode": "open", "rate": 200.0, "warmup_s": 0.0,
                "duration_s": 0.1, "connections": 2, "cycle": False,
                "factory": "tests.test_bench_harness:_echo_factory",
                "factory_args": {"prefix": "t"}}
        raw = build_requests(spec, 21)
        result = run_phase(spec, raw)
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) == 21 and b"body 20" in seen
    assert result["ok"] == 20 and result["not_ok"] == 1 and result["statuses"] == {
        "200": 20, "409": 1}
    assert result["transport_errors"] == 0 and result["p99_ms"] is not None
