"""The house keeps its rooms: the import contracts (``[tool.importlinter]`` in
``pyproject.toml``) hold, no package has an import cycle (imports inside functions
included), and ``ARCHITECTURE.md`` names every room that exists and nothing that does not."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "connectors", "mappings", "jobs")


def test_the_import_contracts_hold():
    # in a child process: import-linter reconfigures logging in the process it runs in
    code = "import sys; from importlinter.cli import lint_imports; " \
           "sys.exit(lint_imports(no_cache=True, no_logo=True))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import loopy.b\n")
    (pkg / "b.py").write_text("def later():\n    from loopy import a\n")
    (pkg / "c.py").write_text("import loopy.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycles(grimp.build_graph("loopy", cache_dir=None)) == [["loopy.a", "loopy.b"]]


def test_architecture_md_names_every_room_and_only_real_ones():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rooms = sorted(str(d.relative_to(ROOT)) + "/" for d in (ROOT / "hub").rglob("*")
                   if d.is_dir() and (d / "__init__.py").exists())
    missing = [room for room in rooms if f"`{room}`" not in text]
    assert missing == [], "rooms ARCHITECTURE.md does not describe"
    named = set(re.findall(r"`((?:hub|jobs|connectors|mappings|demo|sandbox|tests)/[\w/.]*)`",
                           text))
    gone = sorted(path for path in named if not os.path.exists(ROOT / path.rstrip("/")))
    assert gone == [], "paths ARCHITECTURE.md names that do not exist"
