"""The benchmark harness: a registry of benchmarks, the ``Figure`` they report, the
results files and the printed table.

A benchmark is a function ``fn(params) -> list[Figure]`` registered under a name, with the
parameters of a quick run and the overrides ``--full`` applies:

    from bench.harness import Figure, benchmark

    @benchmark("tracking", params={"events": 2_000}, full={"events": 50_000})
    def tracking(params):
        ...
        return [Figure("pushes_per_s", "1/s", 812.0, "bare_push", 1630.0)]

then add the module to ``MODULES`` below. ``params`` is a fresh dict the function may add
facts to (the database it ran on, say); what it holds afterwards is written with the
figures. A benchmark that finds something wrong (lost rows, errors) raises
``BenchmarkFailed``: the run goes on with the others and exits non-zero.

``run(name)`` writes ``bench/results/<name>.json``:
``{"name", "params", "at", "figures": [{"metric", "unit", "value", "baseline_name",
"baseline_value", "ratio", "target", "met"}]}`` (baseline and target fields null where a
figure has none) and returns the figures; ``format_table`` renders them.
``python -m bench`` is the command line.
"""
from __future__ import annotations

import importlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Modules that register benchmarks; ``python -m bench`` runs them in this order.
MODULES = ["bench.apply", "bench.ingest", "bench.tracking", "bench.stop_ship", "bench.backfill",
           "bench.event_latency", "bench.reasons", "bench.reconcile", "bench.analytics"]


class BenchmarkFailed(RuntimeError):
    """The benchmark ran but what it measured is wrong (not merely slow)."""


@dataclass
class Figure:
    """One measured number, optionally beside the baseline it should be compared with.

    ``ratio`` is ``value / baseline_value`` unless given. ``target`` is what the figure
    should reach, ``"ratio >= 0.5"`` or ``"value <= 4"``; ``met`` says whether it does.
    """

    metric: str
    unit: str
    value: float
    baseline_name: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline_value not in (None, 0) and self.value is not None:
            self.ratio = self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        field_, op, bound = self.target.split()
        got = getattr(self, field_)
        if got is None:
            return False
        return got >= float(bound) if op == ">=" else got <= float(bound)

    def as_dict(self) -> dict:
        return {**{k: _json_number(v) for k, v in asdict(self).items()}, "met": self.met}


@dataclass
class Benchmark:
    name: str
    fn: Callable[[dict], list[Figure]]
    params: dict = field(default_factory=dict)
    full: dict = field(default_factory=dict)
    description: str = ""

    def params_for(self, full: bool) -> dict:
        return {**self.params, **(self.full if full else {}), "full": full}


REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, *, params: dict | None = None, full: dict | None = None,
              description: str = ""):
    """Register ``fn(params) -> list[Figure]`` under ``name`` (a decorator)."""

    def register(fn):
        REGISTRY[name] = Benchmark(name, fn, dict(params or {}), dict(full or {}),
                                   description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return register


def load_all() -> dict[str, Benchmark]:
    for module in MODULES:
        importlib.import_module(module)
    return REGISTRY


def _json_number(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def result_document(name: str, params: dict, at: datetime, figures: list[Figure]) -> dict:
    return {"name": name, "params": params,
            "at": at.astimezone(timezone.utc).isoformat(timespec="seconds"),
            "figures": [f.as_dict() for f in figures]}


def write_result(doc: dict, results_dir: Path | None = None) -> Path:
    results_dir = Path(results_dir or RESULTS_DIR)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{doc['name']}.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def run(name: str, full: bool = False, results_dir: Path | None = None) -> dict:
    """Run one registered benchmark, write its results file, return the document."""
    bench = REGISTRY[name]
    params = bench.params_for(full)
    at = datetime.now(timezone.utc)
    figures = bench.fn(params)
    doc = result_document(name, params, at, figures)
    doc["path"] = str(write_result(doc, results_dir))
    return doc


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


COLUMNS = ("metric", "unit", "value", "baseline", "baseline value", "ratio", "target")


def _target(d: dict) -> str:
    if not d.get("target"):
        return "-"
    return f"{d['target'].replace('>=', '≥').replace('<=', '≤')}: " \
           f"{'met' if d['met'] else 'NOT met'}"


def format_table(name: str, figures: list[Figure] | list[dict]) -> str:
    rows = []
    for f in figures:
        d = f if isinstance(f, dict) else f.as_dict()
        rows.append((d["metric"], d["unit"], _fmt(d["value"]), d["baseline_name"] or "-",
                     _fmt(d["baseline_value"]), _fmt(d["ratio"]), _target(d)))
    widths = [max(len(str(c)) for c in col) for col in zip(COLUMNS, *rows)]
    numeric = {2, 4, 5}

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in numeric else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"== {name} ==", line(COLUMNS), line("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)
