"""Installing a plugin package the way an operator would (pip, entry points) into a
throw-away site, and putting that site on the path for the test."""
from __future__ import annotations

import importlib
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from connectors import registry


def pip_install(src: Path, site: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(site),
         str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return site


@contextmanager
def on_path(site: Path, modules: tuple[str, ...]):
    """The site's entry points found by the connector registry while the block runs."""
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    registry.reload()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for module in modules:
            sys.modules.pop(module, None)
        importlib.invalidate_caches()
        registry.reload()
