"""The load generator: HTTP/1.1 keep-alive load on loopback from a separate process.

    from bench.load import run_load
    result = run_load({"port": 8123, "path": "/webhooks/generic_shop/1", "mode": "open",
                       "rate": 500, "duration_s": 5, "warmup_s": 1, "connections": 16,
                       "factory": "bench.payloads:signed_orders",
                       "factory_args": {"secret": "whsec_...", "id_prefix": "run1-"}})

``run_load`` starts ``python -m bench.load`` (so the sender never shares a GIL with the
caller), passes the spec as JSON on stdin and returns the result dict it prints. Every
request is built before the clock starts: ``factory(n, **factory_args)`` returns ``n``
``(headers, body)`` pairs (signing is the sender's cost, not the server's), serialised
once to raw request bytes. Each of ``connections`` threads owns one persistent
connection; responses are parsed minimally (status line, ``Content-Length``) because
``http.client``'s header parsing would cost the 2-core machine more than the server
under test spends on a bare handler. A closed loop builds ``max_rate`` requests per
second of the run; ``cycle: true`` instead resends a few thousand over and over (for a
handler that stores nothing, where unique ids do not matter).

Two modes, each with a warm-up whose requests are sent but not measured:
* ``closed``: every thread sends back to back for ``duration_s`` → ``requests_per_s``
  (2xx answers completed per second inside the measured window);
* ``open``: request ``i`` is due at ``t0 + i / rate`` whatever the server does, and its
  latency is measured from that due time, not from when a free connection sent it, so a
  stalled server shows up in the percentiles (no coordinated omission) → ``p50_ms``,
  ``p90_ms``, ``p99_ms``, ``max_ms``. A server so far behind that requests are still
  unsent ``duration_s + 10`` seconds after the end is given up on (``abandoned``).

The result also counts every answer by status over the whole run, warm-up included
(``ok`` = 2xx answers, for durability checks), transport errors, and the sender's own CPU
seconds.
"""
from __future__ import annotations

import gc
import importlib
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {"host": "127.0.0.1", "method": "POST", "mode": "closed", "duration_s": 5.0,
            "warmup_s": 1.0, "rate": 500.0, "connections": 16, "max_rate": 4000.0,
            "cycle": False, "factory_args": {}}
CYCLE_SIZE = 4096


def run_load(spec: dict, timeout: float | None = None) -> dict:
    """Run one load phase in a child process and return its result dict."""
    spec = {**DEFAULTS, **spec}
    timeout = timeout or spec["warmup_s"] + 2 * spec["duration_s"] + 120
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-m", "bench.load"], input=json.dumps(spec),
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


# -- inside the load process ---------------------------------------------------------------
def _request_count(spec: dict) -> int:
    seconds = spec["warmup_s"] + spec["duration_s"]
    rate = spec["rate"] if spec["mode"] == "open" else spec["max_rate"]
    count = int(seconds * rate) + 1
    return min(count, CYCLE_SIZE) if spec["cycle"] else count


def build_requests(spec: dict, n: int) -> list[bytes]:
    module, _, attr = spec["factory"].partition(":")
    factory = getattr(importlib.import_module(module), attr)
    host = f"{spec['host']}:{spec['port']}"
    start = f"{spec['method']} {spec['path']} HTTP/1.1\r\nHost: {host}\r\n"
    raw = []
    for headers, body in factory(n, **spec["factory_args"]):
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw.append(f"{start}{lines}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)
    return raw


class Connection:
    """One keep-alive connection; ``exchange(raw)`` sends a request and returns the status."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def exchange(self, raw: bytes) -> int:
        if self.sock is None:
            self.sock = self._connect()
        sock = self.sock
        try:
            sock.sendall(raw)
            data = b""
            while (end := data.find(b"\r\n\r\n")) < 0:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                data += chunk
            head = data[:end].lower()
            pos = head.find(b"\r\ncontent-length:")
            if pos < 0:
                raise ConnectionError("response without Content-Length")
            eol = head.find(b"\r\n", pos + 2)
            length = int(head[pos + 17:eol if eol > 0 else len(head)])
            have = len(data) - end - 4
            while have < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection mid-body")
                have += len(chunk)
            if b"\r\nconnection: close" in head:
                self.close()
            return int(data[9:12])
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values))) - 1))
    return sorted_values[rank]


def run_phase(spec: dict, raw: list[bytes]) -> dict:
    """Send ``raw`` per the spec's mode; return counts, rate and latency percentiles."""
    mode, rate, built = spec["mode"], float(spec["rate"]), len(raw)
    # cycling resends the same requests (for a handler that stores nothing)
    n = built
    if spec["cycle"]:
        n = int((spec["warmup_s"] + spec["duration_s"]) * rate) + 1 if mode == "open" else 1 << 62
    counter = itertools.count()
    lock = threading.Lock()
    statuses: Counter = Counter()
    exhausted = threading.Event()
    transport_errors: list[str] = []
    samples: list[tuple[float, float, int]] = []  # (due or sent, done, status)
    t0 = time.perf_counter() + 0.05
    measure_from = t0 + spec["warmup_s"]
    stop_at = measure_from + spec["duration_s"]
    give_up_at = stop_at + spec["duration_s"] + 10  # open loop far behind a stalled server
    abandoned = threading.Event()

    def worker() -> None:
        conn = Connection(spec["host"], spec["port"])
        mine: list[tuple[float, float, int]] = []
        local: Counter = Counter()
        while True:
            i = next(counter)
            if i >= n:
                exhausted.set()
                break
            if mode == "open":
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if time.perf_counter() > give_up_at:
                    abandoned.set()
                    break
            else:
                due = time.perf_counter()
                if due >= stop_at:
                    break
            try:
                status = conn.exchange(raw[i % built])
            except OSError as e:
                with lock:
                    transport_errors.append(repr(e))
                continue
            mine.append((due, time.perf_counter(), status))
            local[status] += 1
        conn.close()
        with lock:
            samples.extend(mine)
            statuses.update(local)

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec["connections"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "closed":
        window = [s for s in samples if measure_from <= s[1] <= stop_at]
        span = spec["duration_s"]
        if exhausted.is_set():  # ran out of requests early: the window ends there
            span = max([s[1] for s in window], default=measure_from) - measure_from
    else:
        window = [s for s in samples if s[0] >= measure_from]
        span = (max(s[1] for s in window) - measure_from) if window else 0.0
    good = [s for s in window if 200 <= s[2] < 300]
    latencies = sorted((done - due) * 1000 for due, done, _ in good)
    return {
        "mode": mode, "requests_built": built, "connections": spec["connections"],
        "offered_rate": rate if mode == "open" else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "ok": sum(v for k, v in statuses.items() if 200 <= k < 300),
        "not_ok": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "transport_errors": len(transport_errors),
        "transport_error_examples": transport_errors[:3],
        "exhausted": mode == "closed" and exhausted.is_set(),
        "abandoned": abandoned.is_set(),
        "window_s": span, "measured": len(window),
        "requests_per_s": len(good) / span if span > 0 else 0.0,
        "p50_ms": _percentile(latencies, 50), "p90_ms": _percentile(latencies, 90),
        "p99_ms": _percentile(latencies, 99), "max_ms": latencies[-1] if latencies else None,
        "sender_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
    }


def main() -> None:
    spec = {**DEFAULTS, **json.load(sys.stdin)}
    raw = build_requests(spec, _request_count(spec))
    gc.collect()
    gc.freeze()  # the prebuilt requests are never garbage; keep the collector off them
    print(json.dumps(run_phase(spec, raw)))


if __name__ == "__main__":
    main()
