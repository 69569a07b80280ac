"""``python -m bench [--full] [--list] [names...]``: run benchmarks (all by default), print
a table per benchmark and write ``bench/results/<name>.json`` (see ``bench.harness``).

Exits 1 when a benchmark fails (raises), after running the others; 2 on an unknown name.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback

from bench import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--full", action="store_true", help="large sizes, longer runs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results-dir", default=None, help="default: bench/results")
    args = parser.parse_args(argv)

    registry = harness.load_all()
    if args.list:
        for b in registry.values():
            print(f"{b.name}\t{b.description}")
        return 0
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(registry)}",
              file=sys.stderr)
        return 2
    failed = []
    for name in args.names or list(registry):
        print(f"running {name}{' (full)' if args.full else ''} ...", flush=True)
        started = time.monotonic()
        try:
            doc = harness.run(name, full=args.full, results_dir=args.results_dir)
        except Exception as e:  # report, keep going with the other benchmarks
            failed.append(name)
            traceback.print_exc()
            print(f"FAILED {name}: {e}", file=sys.stderr, flush=True)
            continue
        print(harness.format_table(name, doc["figures"]))
        print(f"({time.monotonic() - started:.0f} s; written to {doc['path']})\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
