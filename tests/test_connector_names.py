"""``hub/`` and ``jobs/`` never name a built-in connector in code: connectors plug in
through their declared capabilities (``connectors.base``), so what a connector does is
decided by its class, never by its name. Comments and docstrings may name them.

The built-in names come from the registry (``connectors.registry.BUILTINS`` and the
classes it loads), not from a list here. A name counts as used when an identifier or a
string literal (f-strings included) contains it between non-alphanumeric boundaries
(``link_kuaishou``, ``"/oauth/kuaishou/callback"``); case matters, so prose such as
"Kuaishou: open.refund.reject.reason" in a message names the platform, not the connector.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from connectors import registry

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("hub", "jobs")
STRINGISH = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)}


def builtin_names() -> set[str]:
    names = set(registry.BUILTINS)
    names |= {cls.name for cls in registry.all().values()
              if cls.__module__.split(".")[0] == "connectors"}
    return names


def _pattern(names) -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])({alternatives})(?![A-Za-z0-9])")


def _docstrings(tree: ast.AST) -> set[tuple[int, int]]:
    """Where each docstring starts (line, column)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                found.add((body[0].lineno, body[0].col_offset))
    return found


def offences(source: str, pattern: re.Pattern) -> list[tuple[int, str, str]]:
    """(line, name, token) for every identifier or string literal naming a connector;
    comments and docstrings are skipped."""
    docs = _docstrings(ast.parse(source))
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME or (tok.type in STRINGISH and tok.start not in docs):
            for match in pattern.finditer(tok.string):
                found.append((tok.start[0], match.group(1), tok.string[:80]))
    return found


def test_hub_and_jobs_name_no_builtin_connector():
    names = builtin_names()
    assert {"kuaishou", "kuaidi100", "hub_webhook", "generic_shop"} <= names  # sanity
    pattern = _pattern(names)
    problems = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, name, text in offences(path.read_text(encoding="utf-8"), pattern):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {name!r} in {text!r}")
    assert not problems, "built-in connector named in code:\n" + "\n".join(problems)


def test_the_scanner_sees_code_and_skips_comments_and_docstrings():
    source = '''"""The kuaishou module docstring may say kuaishou."""
# a comment about hub_webhook
CONNECTOR = "kuaishou"                  # a string literal
URL = f"/oauth/kuaishou/{1}/callback"   # an f-string
def link_kuaishou():                    # an identifier
    """A docstring naming generic_shop."""
    return "kuaishou_dropship", "Kuaishou prose", "spreadsheets", "spreadsheetml"


class X:
    """kuaidi100 here is fine"""
    kind = ("kuaidi100",)
'''
    found = [(line, name) for line, name, _ in offences(source, _pattern(builtin_names()))]
    assert found == [(3, "kuaishou"), (4, "kuaishou"), (5, "kuaishou"),
                     (7, "kuaishou_dropship"), (12, "kuaidi100")]
