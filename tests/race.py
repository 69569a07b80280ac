"""Two real transactions racing on one row (PostgreSQL): ``holder`` changes the row and
keeps its transaction open while ``racer`` runs into it."""
from __future__ import annotations

import threading


def race(database, holder, racer, hold_s: float = 0.5) -> None:
    """``holder(session)`` runs in a transaction that stays open ``hold_s`` after it
    returns; ``racer()`` starts once it returned. Errors in either fail the caller."""
    changed, errors = threading.Event(), []

    def hold():
        try:
            with database.session() as s:
                holder(s)
                s.flush()
                changed.set()
                threading.Event().wait(hold_s)
        except Exception as e:  # noqa: BLE001 (raised below, in the test's thread)
            errors.append(e)
            changed.set()

    def run_into():
        try:
            changed.wait(5)
            racer()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=hold), threading.Thread(target=run_into)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    if errors:
        raise errors[0]
