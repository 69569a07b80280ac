"""What a supplier needs to ship: tracking numbers that fit each carrier's format, and a
small photo of a returned item.

``tracking_number("sf")`` → ``SF`` + 13 digits, unique per process run; the shapes match
the waybill patterns platforms and the hub check (SF ``SF``+12-13 digits, YTO ``YT``+13,
J&T ``JT``+13, JD ``JD``+13, ZTO/STO/Yunda digits with their usual prefixes, EMS 13
digits). ``KUAIDI100`` names each carrier as the courier sandbox knows it.
``photo_png()`` draws a small valid PNG (a checkerboard) with the standard library.
"""
from __future__ import annotations

import itertools
import random
import struct
import zlib

# carrier: (prefix, digits after it, Kuaidi100 company code)
CARRIERS = {
    "sf": ("SF", 13, "shunfeng"),
    "yto": ("YT", 13, "yuantong"),
    "jitu": ("JT", 13, "jtexpress"),
    "jd": ("JD", 13, "jd"),
    "zto": ("73", 12, "zhongtong"),
    "sto": ("77", 12, "shentong"),
    "yunda": ("43", 11, "yunda"),
    "ems": ("1", 12, "ems"),
}
KUAIDI100 = {code: row[2] for code, row in CARRIERS.items()}
_counter = itertools.count(1)


def tracking_number(carrier: str, rng: random.Random | None = None) -> str:
    """A fresh, well-formed number for ``carrier`` (random digits, then a counter)."""
    if carrier not in CARRIERS:
        raise ValueError(f"the sandbox supplier ships with {', '.join(CARRIERS)}, not {carrier!r}")
    prefix, digits, _ = CARRIERS[carrier]
    rng = rng or random.SystemRandom()
    tail = f"{next(_counter) % 10_000:04d}"
    head = "".join(str(rng.randrange(10)) for _ in range(digits - len(tail)))
    return prefix + head + tail


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def photo_png(width: int = 32, height: int = 24, seed: int = 0) -> bytes:
    """A small RGB PNG: a checkerboard whose colours depend on ``seed``."""
    a = bytes(((seed * 53) % 256, 120, 200))
    b = bytes((240, (seed * 29) % 256, 60))
    rows = []
    for y in range(height):
        row = b"".join(a if (x // 4 + y // 4) % 2 else b for x in range(width))
        rows.append(b"\x00" + row)  # filter type 0 per scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _chunk(b"IEND", b""))
