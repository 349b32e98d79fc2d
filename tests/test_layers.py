"""The layers are written into the code: imports only go down, never in a circle.

Every `import` in switchman/ counts, the ones inside functions too (a lazy import is still a
dependency). A module's layer is the first entry of LAYERS whose prefix names it; a module may
import its own layer or any below, never above. store/ modules see only `store.base`; the rest of
the package is invisible to them. The checker is tested on a made-up graph too, so a broken
checker cannot pass silently.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "switchman"
MAX_LINES = 500

# Low to high. A module may import only from its own layer or a lower one.
LAYERS: tuple[tuple[str, ...], ...] = (
    # leaves: pure, no I/O beyond their own job
    ("errors", "records", "jsonutil", "timeutil", "faults", "cli_quote", "audit", "merkle", "globs",
     "paths", "reasons", "ownership", "fsutil", "managers", "_hooks"),
    # git and files
    ("repo", "fingerprints", "policy", "specs", "models", "failclosed", "quarantine", "spool", "helperstate"),
    ("store",),
    ("checkpoint", "trail", "ops"),
    ("gates", "monitor", "status", "install", "state", "doctor", "receipts", "purge"),
    ("render",),
    ("hookrun", "hookenv", "helper", "cli", "demo", "__init__"),
)


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    head = module.split(".")[0]
    for rank, names in enumerate(LAYERS):
        if head in names:
            return rank
    raise AssertionError(f"switchman.{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
        if not base.startswith("switchman"):
            return []
        base = base[len("switchman") :].lstrip(".")
    else:
        parts = current.split(".") if current else []
        if not is_package:
            parts = parts[:-1]
        up = node.level - 1
        parts = parts[: len(parts) - up] if up else parts
        base = ".".join([*parts, *([node.module] if node.module else [])])
    # `from . import x` / `from .store import leases` may name submodules.
    return [f"{base}.{a.name}" if base else a.name for a in node.names] + ([base] if base else [])


def imports_of(path: Path) -> set[str]:
    """Every switchman module `path` imports, anywhere in the file, as dotted names."""
    current = module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("switchman."):
                    found.add(a.name[len("switchman.") :])
        elif isinstance(node, ast.ImportFrom):
            found.update(_resolve(current, is_package, node))
    return found


def graph() -> dict[str, set[str]]:
    """module -> the switchman modules it imports (names that are not modules are dropped)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    out: dict[str, set[str]] = {}
    for name, path in files.items():
        deps = set()
        for dep in imports_of(path):
            while dep and dep not in known:  # `from .store.leases import get` -> store.leases
                dep = dep.rpartition(".")[0]
            if dep and dep != name and not name.startswith(dep + ".") and dep != "":
                deps.add(dep)
        out[name] = deps
    return out


def upward(g: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted(
        f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
        for m, deps in g.items()
        for d in deps
        if layer_of(d) > layer_of(m)
    )


def store_crossings(g: Mapping[str, Iterable[str]]) -> list[str]:
    """store modules import only store.base (the interface) and the leaves/git layer below;
    a backend (store.sqlite*, store.postgres*) may use the table modules."""
    bad = []
    for m, deps in g.items():
        if not m.startswith("store."):
            continue
        for d in deps:
            if d.startswith("store.") and d != "store.base" and not m.startswith(("store.sqlite", "store.postgres")):
                bad.append(f"{m} imports {d}")
    return sorted(bad)


def cycles(g: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    for m in graph():
        layer_of(m)


def test_imports_only_go_down() -> None:
    assert upward(graph()) == []


def test_store_modules_do_not_import_each_other() -> None:
    assert store_crossings(graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_no_module_over_500_lines() -> None:
    big = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


@pytest.mark.parametrize(
    ("g", "problem"),
    [
        ({"audit": {"store.sqlite"}, "store.sqlite": set()}, "upward"),
        ({"gates.commit": {"gates.push"}, "gates.push": {"gates.commit"}}, "cycle"),
        ({"store.leases": {"store.tasks"}, "store.tasks": set()}, "store"),
    ],
)
def test_the_checker_catches_what_it_guards(g: dict[str, set[str]], problem: str) -> None:
    found = {"upward": upward(g), "cycle": cycles(g), "store": store_crossings(g)}[problem]
    assert found, f"the checker missed a {problem} import in {g}"


# --- SQL lives in store/ only ------------------------------------------------------------------

# A string literal (implicit concatenations and f-string text included) that reads as a statement.
# Upper case only: the code writes SQL in capitals, and prose such as "select a file from" must pass.
SQL_TEXT = re.compile(
    r"\bSELECT\b.+\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bPRAGMA\s+\w+\s*(?:=|\(|$)|\b(?:CREATE|DROP|ALTER)\s+(?:TABLE|INDEX|TRIGGER|VIEW)\b|\bBEGIN\s+IMMEDIATE\b",
    re.S,
)

# Modules allowed to hold SQL outside store/ for a while (none: keep it that way).
SQL_ALLOWED_FOR_NOW: frozenset[str] = frozenset()


def sql_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal in `source` that holds SQL; docstrings are prose."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "?" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        else:
            continue
        if SQL_TEXT.search(text):
            found.append((node.lineno, " ".join(text.split())[:80]))
    return found


def sql_outside_store() -> dict[str, list[tuple[int, str]]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name == "store" or name.startswith("store."):
            continue
        if hits := sql_literals(path.read_text()):
            out[name] = hits
    return out


def test_sql_lives_in_store_only() -> None:
    found = sql_outside_store()
    assert {m: hits for m, hits in found.items() if m not in SQL_ALLOWED_FOR_NOW} == {}, (
        "move these queries into a store/ module and call it"
    )
    assert sorted(SQL_ALLOWED_FOR_NOW - set(found)) == [], "no SQL left there: drop it from SQL_ALLOWED_FOR_NOW"


@pytest.mark.parametrize(
    ("source", "hits"),
    [
        ('c.store.all("SELECT id FROM tasks")', 1),
        ('c.all(\n    "SELECT a, b "\n    "FROM t WHERE x = ?", (1,))', 1),
        ('conn.execute(f"SELECT {COLS} FROM audit_log ORDER BY id")', 1),
        ("tx.execute('UPDATE leases SET status = ?', (s,))", 1),
        ('conn.execute("PRAGMA user_version")', 1),
        ('x = "INSERT OR IGNORE INTO meta (key) VALUES (?)"', 1),
        ('def f():\n    """SELECT rows FROM the table, described."""\n', 0),
        ('msg = "PRAGMA integrity_check: ok"', 0),
        ('msg = "select a worktree from the list"', 0),
    ],
)
def test_the_sql_finder_finds_sql(source: str, hits: int) -> None:
    assert len(sql_literals(source)) == hits, source


def test_function_level_imports_count(tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from .gates import commit\n    import switchman.cli\n")
    assert {"gates.commit", "gates", "cli"} <= {d for d in _imports_from_source(src)}


def _imports_from_source(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve("mod", False, node))
        elif isinstance(node, ast.Import):
            found.update(a.name[len("switchman.") :] for a in node.names if a.name.startswith("switchman."))
    return found
