"""Benchmark ``reconcile``: the hub's statement matching (``hub.domain.finance.matching``)
on ``lines`` hub lines (1,000,000; 2,000,000 with ``--full``) against a supplier's
statement of about as many, beside a pandas exact-key merge and a DuckDB join of the same
data in the same run.

The data (``generate``, a seeded numpy generator: the same every run) look like a real
month: ``document_ref`` ``FUL-00001234`` (``CLM-…`` for a tenth), orders of one to three
lines (``order_no`` ``KS2611`` + ten digits) shipped under one waybill (``SF`` + twelve
digits), ``line_ref`` null (the supplier's file names no lines), amounts 500–200,000 fen,
days in November 2026. The supplier's file is the hub's lines shuffled, with about 2 %
planted differences, as many of each kind (a swap counts once), each recorded with the
lines it touches and what their outcomes must be for it to be *found*:

* ``beyond_tolerance``: the supplier's amount 101–20,000 fen off → both lines
  ``matched_with_difference``;
* ``within_tolerance``: 1–100 fen off (within ``Rules.of(None)``'s tolerance and write-off
  limit) → both ``written_off``;
* ``missing``: the line left out of the supplier's file → ``only_in_hub``;
* ``extra``: a supplier line with keys of its own → ``only_in_supplier``;
* ``duplicate``: a supplier line repeated exactly → one copy ``duplicate``, the other
  and the hub's line ``matched``;
* ``swapped``: two supplier lines (of different orders) with their waybills swapped, the
  document refs right → all four lines ``matched_with_difference`` (a key conflict).

Each engine runs in a subprocess of its own (``python -m bench.reconcile <engine> <dir>``)
so its peak memory is its own; the parent writes the two files once as Parquet (polars;
no pyarrow needed) and each child reads them, then times only the matching, best of
``repeats`` (3):

* ``match_s``: ``matching.match(hub, supplier, Rules.of(None))`` on the frames read by
  ``pl.read_parquet``; it writes every line's outcome for the parent to count.
  Baseline ``pandas_merge_s``: ``hub.merge(supplier, on="document_ref", how="outer",
  indicator=True)`` on pandas frames built from numpy arrays (pandas' default text dtype:
  ``str``, python storage without pyarrow): one exact key, no tolerance, no other pass —
  target ``ratio <= 1``, the hub's full matching faster than that merge.
* ``match_s_vs_duckdb``: the same time beside ``duckdb_join_s``: ``CREATE TEMP TABLE
  joined AS SELECT * FROM hub FULL OUTER JOIN supplier USING (document_ref)`` on tables
  loaded (untimed) from the Parquet files. No target.
* ``peak_mb``: the hub child's peak RSS (``VmHWM``, its own since ``exec``: the
  interpreter, polars, the hub's modules, both frames and the matching; ``ru_maxrss``
  would count the parent's too), beside ``pandas_peak_mb``; target ≤ 1024.
  DuckDB's is in ``params["duckdb_peak_mb"]``, each child's peak after reading the data
  (before any matching) in ``params["<engine>_read_peak_mb"]``.
* ``differences_found`` beside ``differences_planted``: target ``ratio >= 1``.
* ``false_alarms``: lines no difference touches whose outcome is not ``matched``;
  target 0.

The benchmark fails (``BenchmarkFailed``) when a planted difference is not found, on a
false alarm, when a line is missing from the hub's result or appears twice in it, or when
pandas and DuckDB disagree on the size of the join. Per-kind planted and found counts,
the hub's lines per outcome, every run's times and the sizes are in ``params``. The
engines use what the machine has (polars and DuckDB all its cores, pandas one).
"""
from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchmarkFailed, Figure, benchmark

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261130
SHARE_PLANTED = 0.02
KINDS = ("beyond_tolerance", "within_tolerance", "missing", "extra", "duplicate", "swapped")
ENGINES = ("hub", "pandas", "duckdb")
REPEATS = 3
TARGET_PEAK_MB = 1024
MATCHED, WITH_DIFFERENCE = "matched", "matched_with_difference"


@dataclass
class Data:
    hub: object  # pl.DataFrame with matching.COLUMNS
    supplier: object  # the same columns
    touched: object  # pl.DataFrame: kind, diff, side, id, expect — every planted line


def generate(lines: int, seed: int = SEED) -> Data:
    """``lines`` hub lines and the supplier's statement of them with the planted
    differences (see the module docstring), deterministic for a seed."""
    import numpy as np
    import polars as pl

    from hub.domain.finance import matching

    rng = np.random.default_rng(seed)
    n = lines
    per_kind = max(1, round(n * SHARE_PLANTED / len(KINDS)))
    order_of = np.repeat(np.arange(n), rng.integers(1, 4, size=n))[:n]  # 1–3 lines each
    orders = int(order_of[-1]) + 1
    order_number = 2_000_000_000 + rng.permutation(orders)  # distinct, not in line order
    waybill_number = 310_000_000_000 + rng.permutation(orders) * 7
    hub = pl.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "doc": rng.permutation(n) + 1,
        "claim": rng.random(n) < 0.1,
        "order": order_number[order_of],
        "waybill_n": waybill_number[order_of],
        "amount_minor": rng.integers(500, 200_001, size=n, dtype=np.int64),
        "day_n": rng.integers(0, 30, size=n),
    })
    hub = hub.select(
        "id",
        document_ref=pl.concat_str(pl.when("claim").then(pl.lit("CLM-"))
                                   .otherwise(pl.lit("FUL-")),
                                   pl.col("doc").cast(pl.String).str.zfill(8)),
        order_no=pl.concat_str(pl.lit("KS2611"), pl.col("order").cast(pl.String)),
        line_ref=pl.lit(None, pl.String),
        waybill=pl.concat_str(pl.lit("SF"), pl.col("waybill_n").cast(pl.String)),
        amount_minor="amount_minor",
        day=pl.date(2026, 11, 1) + pl.duration(days="day_n"),
    ).cast(matching.COLUMNS)

    # disjoint hub rows for each kind that touches hub lines
    picked = rng.permutation(n)[:per_kind * 6]
    beyond, within, missing, duplicated = (picked[i * per_kind:(i + 1) * per_kind]
                                           for i in range(4))
    pairs = picked[4 * per_kind:].reshape(-1, 2)
    pairs = pairs[order_of[pairs[:, 0]] != order_of[pairs[:, 1]]]  # waybills that differ

    amount = hub["amount_minor"].to_numpy().copy()
    off = rng.integers(101, 20_001, size=per_kind)
    down = (rng.random(per_kind) < 0.5) & (amount[beyond] - off >= 1)
    amount[beyond] += np.where(down, -off, off)
    off = rng.integers(1, 101, size=per_kind)
    amount[within] += np.where(rng.random(per_kind) < 0.5, -off, off)
    waybill = hub["waybill"].to_numpy().copy()
    waybill[pairs[:, 0]], waybill[pairs[:, 1]] = waybill[pairs[:, 1]], waybill[pairs[:, 0]]

    row = np.arange(n)
    kept = np.ones(n, dtype=bool)
    kept[missing] = False
    base = hub.with_columns(pl.Series("amount_minor", amount),
                            pl.Series("waybill", waybill, dtype=pl.String),
                            src=pl.Series(row), copy=pl.lit(0)).filter(pl.Series(kept))
    copies = base.filter(pl.col("src").is_in(pl.Series(duplicated).implode())) \
        .with_columns(copy=pl.lit(1))
    extra = pl.DataFrame({
        "id": np.zeros(per_kind, dtype=np.int64),
        "document_ref": [f"FUL-{n + 1 + j:08d}" for j in range(per_kind)],
        "order_no": [f"KS2611{3_000_000_000 + j}" for j in range(per_kind)],
        "line_ref": [None] * per_kind,
        "waybill": [f"SF{420_000_000_000 + j}" for j in range(per_kind)],
        "amount_minor": rng.integers(500, 200_001, size=per_kind, dtype=np.int64),
        "day_n": rng.integers(0, 30, size=per_kind),
        "src": np.arange(n, n + per_kind),
        "copy": np.zeros(per_kind, dtype=np.int32),
    }).with_columns(day=pl.date(2026, 11, 1) + pl.duration(days="day_n"))
    supplier = pl.concat([base, copies, extra.select(base.columns).cast(base.schema)])
    supplier = supplier[rng.permutation(supplier.height)].with_columns(
        id=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    supplier_id = supplier.select("src", "copy", "id")

    def touched(kind, hub_rows, lines_of):
        """One row per planted line: (diff, side, src, copy, expect) from ``lines_of``."""
        out = []
        for side, rows_of, copy, expect in lines_of:
            out.append(pl.DataFrame({"diff": np.arange(len(hub_rows)),
                                     "src": rows_of}).with_columns(
                kind=pl.lit(kind), side=pl.lit(side), copy=pl.lit(copy, pl.Int32),
                expect=pl.lit(expect)))
        return out

    parts = []
    for kind, rows, outcome in (("beyond_tolerance", beyond, WITH_DIFFERENCE),
                                ("within_tolerance", within, "written_off")):
        parts += touched(kind, rows, [("hub", rows, 0, outcome),
                                      ("supplier", rows, 0, outcome)])
    parts += touched("missing", missing, [("hub", missing, 0, "only_in_hub")])
    parts += touched("extra", np.arange(per_kind),
                     [("supplier", np.arange(n, n + per_kind), 0, "only_in_supplier")])
    parts += touched("duplicate", duplicated, [("hub", duplicated, 0, MATCHED),
                                               ("supplier", duplicated, 0, MATCHED),
                                               ("supplier", duplicated, 1, "duplicate")])
    parts += touched("swapped", pairs, [(side, pairs[:, i], 0, WITH_DIFFERENCE)
                                        for side in ("hub", "supplier") for i in (0, 1)])
    lines_touched = pl.concat([p.select("kind", "diff", "side", "src", "copy", "expect")
                               .cast({"src": pl.Int64, "diff": pl.Int64}) for p in parts])
    on_hub = lines_touched.filter(pl.col("side") == "hub").with_columns(id=pl.col("src") + 1)
    on_supplier = lines_touched.filter(pl.col("side") == "supplier").join(
        supplier_id, on=["src", "copy"], how="left")
    touched_lines = pl.concat([on_hub, on_supplier]).select("kind", "diff", "side", "id",
                                                            "expect")
    return Data(hub, supplier.select(list(matching.COLUMNS)), touched_lines)


def score(outcomes, touched) -> dict:
    """Which planted differences the outcomes (side, id, outcome: every line) found, and
    the false alarms: ``{"planted": {kind: n}, "found": {kind: n}, "false_alarms": n,
    "false_alarm_examples": [...]}``. A difference is found when its lines' outcomes are,
    as a multiset, the ones it expects."""
    import polars as pl

    per_difference = touched.join(outcomes, on=["side", "id"], how="left").group_by(
        "kind", "diff").agg(
        got=pl.col("outcome").fill_null("(no line)").sort().str.join("|"),
        want=pl.col("expect").sort().str.join("|"))
    counted = per_difference.group_by("kind").agg(
        planted=pl.len(), found=(pl.col("got") == pl.col("want")).sum())
    planted = {k: 0 for k in KINDS} | dict(counted.select("kind", "planted").iter_rows())
    found = {k: 0 for k in KINDS} | dict(counted.select("kind", "found").iter_rows())
    alarms = outcomes.join(touched, on=["side", "id"], how="anti").filter(
        pl.col("outcome") != MATCHED)
    return {"planted": planted, "found": found, "false_alarms": alarms.height,
            "false_alarm_examples": alarms.sort("side", "id").head(5).rows()}


@benchmark("reconcile", params={"lines": 1_000_000}, full={"lines": 2_000_000})
def reconcile(params: dict) -> list[Figure]:
    """The hub's statement matching beside a pandas merge and a DuckDB join."""
    import polars as pl

    started = time.perf_counter()
    data = generate(params["lines"], params.setdefault("seed", SEED))
    params["generate_s"] = round(time.perf_counter() - started, 2)
    hub_lines, supplier_lines = data.hub.height, data.supplier.height
    params.update(hub_lines=hub_lines, supplier_lines=supplier_lines, repeats=REPEATS,
                  cpus=os.cpu_count(), polars=pl.__version__)
    directory = Path(tempfile.mkdtemp(prefix="hub-bench-reconcile-"))
    try:
        data.hub.write_parquet(directory / "hub.parquet")
        data.supplier.write_parquet(directory / "supplier.parquet")
        touched = data.touched
        del data
        runs = {engine: _run_child(engine, directory) for engine in ENGINES}
        outcomes = pl.read_parquet(directory / "outcomes.parquet")
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    for engine, run in runs.items():
        params[f"{engine}_times_s"] = [round(t, 4) for t in run["times"]]
        params[f"{engine}_peak_mb"] = run["peak_mb"]
        params[f"{engine}_read_peak_mb"] = run["read_peak_mb"]
    params.update(pandas=runs["pandas"]["version"], duckdb=runs["duckdb"]["version"],
                  pandas_text_dtype=runs["pandas"]["text_dtype"],
                  pandas_joined_rows=runs["pandas"]["rows"],
                  duckdb_joined_rows=runs["duckdb"]["rows"],
                  outcomes=runs["hub"]["counts"])
    got = score(outcomes, touched)
    planted, found = sum(got["planted"].values()), sum(got["found"].values())
    params.update(planted=got["planted"], found=got["found"],
                  false_alarm_examples=got["false_alarm_examples"])
    best = {engine: min(run["times"]) for engine, run in runs.items()}
    figures = [
        Figure("match_s", "s", best["hub"], "pandas_merge_s", best["pandas"],
               target="ratio <= 1"),
        Figure("match_s_vs_duckdb", "s", best["hub"], "duckdb_join_s", best["duckdb"]),
        Figure("peak_mb", "MB", runs["hub"]["peak_mb"], "pandas_peak_mb",
               runs["pandas"]["peak_mb"], target=f"value <= {TARGET_PEAK_MB}"),
        Figure("differences_found", "count", found, "differences_planted", planted,
               target="ratio >= 1"),
        Figure("false_alarms", "count", got["false_alarms"], target="value <= 0"),
    ]

    wrong = []
    lines_out = outcomes.height
    distinct = outcomes.select("side", "id").n_unique()
    if lines_out != hub_lines + supplier_lines or distinct != lines_out:
        wrong.append(f"the result has {lines_out:,} lines ({distinct:,} distinct) for "
                     f"{hub_lines + supplier_lines:,} given")
    if found < planted:
        missed = {k: got["planted"][k] - got["found"][k] for k in KINDS
                  if got["found"][k] < got["planted"][k]}
        wrong.append(f"{planted - found} of {planted} planted differences not found: {missed}")
    if got["false_alarms"]:
        wrong.append(f"{got['false_alarms']} false alarms, e.g. {got['false_alarm_examples']}")
    if runs["pandas"]["rows"] != runs["duckdb"]["rows"]:
        wrong.append(f"pandas joined {runs['pandas']['rows']:,} rows, DuckDB "
                     f"{runs['duckdb']['rows']:,}")
    if wrong:
        raise BenchmarkFailed("; ".join(wrong))
    return figures


def _run_child(engine: str, directory: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.reconcile", engine, str(directory), str(REPEATS)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"the {engine} run failed ({done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    return json.loads((directory / f"{engine}.json").read_text())


# ---- the children: one engine each, in a process of its own --------------------------

def _peak_mb() -> float:
    """This process's own peak RSS, MB: ``VmHWM``, which starts afresh at ``exec``.
    ``ru_maxrss`` (the fallback off Linux) keeps the high-water mark of the process
    image ``exec`` replaced — here the parent's, holding the generated data: ~700 MB at
    1M lines, which every child would report as its own."""
    try:
        with open("/proc/self/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return round(int(row.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KB (Linux)


def _timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        result = None
        gc.collect()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def _child_hub(directory: Path, repeats: int) -> dict:
    import polars as pl

    from hub.domain.finance import matching
    from hub.domain.finance.rules import Rules

    hub = pl.read_parquet(directory / "hub.parquet")
    supplier = pl.read_parquet(directory / "supplier.parquet")
    rules = Rules.of(None)
    read_peak = _peak_mb()
    times, result = _timed(lambda: matching.match(hub, supplier, rules), repeats)
    peak = _peak_mb()
    result.lines.join(result.groups.select("group", "outcome"), on="group", how="left") \
        .select("side", "id", "outcome").write_parquet(directory / "outcomes.parquet")
    return {"times": times, "peak_mb": peak, "read_peak_mb": read_peak,
            "counts": result.counts()}


def _child_pandas(directory: Path, repeats: int) -> dict:
    import pandas as pd
    import polars as pl

    def read(name):
        frame = pl.read_parquet(directory / name)
        return pd.DataFrame({c: frame[c].to_numpy() for c in frame.columns})

    hub, supplier = read("hub.parquet"), read("supplier.parquet")
    read_peak = _peak_mb()
    times, joined = _timed(lambda: hub.merge(supplier, on="document_ref", how="outer",
                                             indicator=True, suffixes=("_hub", "_supplier")),
                           repeats)
    return {"times": times, "peak_mb": _peak_mb(), "read_peak_mb": read_peak,
            "rows": len(joined), "version": pd.__version__,
            "text_dtype": str(hub["document_ref"].dtype)}


def _child_duckdb(directory: Path, repeats: int) -> dict:
    import duckdb

    con = duckdb.connect()
    for table in ("hub", "supplier"):
        path = str(directory / f"{table}.parquet").replace("'", "''")
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')")
    read_peak = _peak_mb()

    def join():
        con.execute("DROP TABLE IF EXISTS joined")
        started = time.perf_counter()
        con.execute("CREATE TEMP TABLE joined AS SELECT * FROM hub "
                    "FULL OUTER JOIN supplier USING (document_ref)")
        return time.perf_counter() - started

    times = [join() for _ in range(repeats)]  # the DROP is not timed
    rows = con.execute("SELECT count(*) FROM joined").fetchone()[0]
    return {"times": times, "peak_mb": _peak_mb(), "read_peak_mb": read_peak, "rows": rows,
            "version": duckdb.__version__}


def _child(argv: list[str]) -> None:
    engine, directory, repeats = argv[0], Path(argv[1]), int(argv[2])
    run = {"hub": _child_hub, "pandas": _child_pandas, "duckdb": _child_duckdb}[engine]
    (directory / f"{engine}.json").write_text(json.dumps(run(directory, repeats)))


if __name__ == "__main__":
    _child(sys.argv[1:])
