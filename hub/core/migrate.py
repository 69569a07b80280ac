"""Schema migrations (Alembic), callable from code: ``upgrade(url)``, ``downgrade(url)``,
``pending_diffs(url, metadata)``.

The migration scripts live in ``hub/migrations/versions``; to add one after changing the
models: ``.venv/bin/python -m hub.core.migrate revision "what changed"`` and review the file.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are noise here

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from hub.core.db import make_engine  # noqa: E402

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base``: an empty schema)."""
    command.downgrade(alembic_config(url), revision)


def pending_diffs(url: str, metadata) -> list:
    """Differences between the models' ``metadata`` and a migrated database (empty when
    in sync)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


if __name__ == "__main__" and sys.argv[1:2] == ["revision"]:
    from hub.core.config import Settings

    command.revision(alembic_config(Settings.from_env().database_url), message=sys.argv[2],
                     autogenerate=True)
