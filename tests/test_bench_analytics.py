"""The ``analytics`` benchmark (``bench/analytics.py``) at a small size: what it generates,
loads and sums is right, and it reports both databases' figures (issue 15)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bench import analytics, harness

SMALL = {"orders": 3000, "returns": 300, "skus": 40, "suppliers": 8, "days": 365, "repeats": 2}


def test_registered_at_a_million_orders_with_both_databases_targets():
    registry = harness.load_all()
    assert registry["analytics"].params["orders"] == 1_000_000
    assert registry["analytics"].params["returns"] == 100_000


def test_the_generated_year_is_loaded_rolled_up_and_summed_right(tmp_path):
    from hub.core.db import Database
    from hub.domain.analytics import reports
    from hub.domain.analytics.reports import Filters

    data = analytics.generate(SMALL)
    assert len(data["orders"]) == 3000 and len(data["return_cases"]) == 300
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    done = analytics.run_on(url, data, dict(SMALL))
    assert done["days"] >= 365 and set(done["per_query_p95_ms"]) >= {"dashboard", "sku_year"}
    zone = ZoneInfo("Asia/Shanghai")
    placed = [o["placed_at"].astimezone(zone).date() for o in data["orders"]]
    everything = Filters(min(placed), datetime.now(zone).date())  # returns come up to now
    db = Database(url)
    try:
        with db.session(readonly=True) as s:
            sold = sum(r["sold"] for r in reports.over_time(s, 1, everything, "month"))
            back = sum(r["returns"] for r in reports.reasons(s, 1, everything))
    finally:
        db.dispose()
    assert sold == sum(line["quantity"] for line in data["order_lines"])
    assert back == len(data["return_cases"])
