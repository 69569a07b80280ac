"""Rows get their ids when added (``hub.core.ids``), and ``hub.core.db.memo`` lives as
long as one transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.core.db import memo
from hub.models import Merchant
from tests.race import race


def test_a_row_has_its_id_when_added_and_keeps_it_when_written(database):
    with database.session() as s:
        first, second = Merchant(name="a"), Merchant(name="b")
        s.add_all([first, second])
        ids = (first.id, second.id)
        assert None not in ids and ids[1] > ids[0]
        assert first in s.new and second in s.new  # nothing was flushed to learn them
    with database.session(readonly=True) as s:
        assert [m.id for m in s.scalars(select(Merchant).order_by(Merchant.id))] == list(ids)


def test_an_id_given_is_kept(database):
    with database.session() as s:
        s.add(Merchant(id=4242, name="chosen"))
    with database.session(readonly=True) as s:
        assert s.get(Merchant, 4242).name == "chosen"


def test_rows_added_after_a_rolled_back_savepoint_do_not_collide(database):
    with database.session() as s:
        kept = Merchant(name="kept")
        s.add(kept)
        s.flush()
        with pytest.raises(RuntimeError):
            with s.begin_nested():
                s.add(Merchant(name="undone"))
                s.flush()
                raise RuntimeError("undo")
        later = Merchant(name="later")
        s.add(later)
    with database.session(readonly=True) as s:
        assert sorted(m.name for m in s.scalars(select(Merchant))) == ["kept", "later"]


def test_concurrent_transactions_never_take_the_same_id(database):
    """PostgreSQL: ids come from the sequence, so two open transactions adding rows of
    the same table at once both commit."""
    if not database.is_postgres:
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
    held: list[int] = []

    def holder(s):
        rows = [Merchant(name=f"h{n}") for n in range(5)]
        s.add_all(rows)
        held.extend(m.id for m in rows)

    def racer():
        with database.session() as s:
            rows = [Merchant(name=f"r{n}") for n in range(5)]
            s.add_all(rows)
            held.extend(m.id for m in rows)

    race(database, holder, racer)
    assert len(set(held)) == 10
    with database.session(readonly=True) as s:
        assert len(s.scalars(select(Merchant)).all()) == 10


def test_the_memo_lives_as_long_as_the_transaction(database):
    with database.session() as s:
        memo(s)["seen"] = 1
        with s.begin_nested():
            pass
        assert memo(s) == {"seen": 1}      # a released savepoint keeps it
        try:
            with s.begin_nested():
                raise ValueError
        except ValueError:
            pass
        assert memo(s) == {}               # a rolled-back one empties it
        memo(s)["seen"] = 2
    assert "hub_memo" not in s.info        # and so does the end of the transaction


def test_no_model_column_has_a_server_default():
    """A server default makes SQLAlchemy insert that table's rows one statement each (it
    fetches the value back), undoing the slice's multi-row INSERT: the models give every
    default in Python; a migration may still set one to fill the rows already there."""
    from hub.models import Base

    found = [f"{table.name}.{column.name}" for table in Base.metadata.sorted_tables
             for column in table.columns if column.server_default is not None]
    assert found == []
