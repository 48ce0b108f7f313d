"""engine/ is grouped by concept, and its packages can be read on their own: no import cycles, no Flask."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
# The domain packages, lowest first: each may import only those before it (and the top-level foundation:
# config, db, clock, logs, models). Application entry points (cli, scheduler, health, demo) sit on top.
LAYERS = ["people", "events", "deadlines", "workflow", "items", "reports"]


def _modules() -> dict[str, Path]:
    out = {}
    for path in ENGINE.rglob("*.py"):
        rel = path.relative_to(ENGINE.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = path
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every engine module `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n in known)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(path, mods) - {name} for name, path in mods.items()}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_engine_never_imports_flask_or_web():
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            mods = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(m.split(".")[0] in ("flask", "flask_login", "flask_babel", "web") for m in mods), name


def test_no_module_imports_itself_back():
    cycle = _find_cycle({m: deps - {"engine"} for m, deps in _graph().items()})
    assert cycle is None, " -> ".join(cycle)


def test_packages_depend_only_on_the_layers_below():
    wrong = defaultdict(set)
    for module, deps in _graph().items():
        here = _package(module)
        if here is None:
            continue
        for dep in deps:
            there = _package(dep)
            if there is not None and LAYERS.index(there) > LAYERS.index(here):
                wrong[module].add(dep)
            if dep.split(".")[1:2] in (["cli"], ["scheduler"], ["demo"], ["health"]):
                wrong[module].add(dep)
    assert not wrong, dict(wrong)


def test_every_package_says_what_it_is():
    for package in LAYERS + ["models", "demo"]:
        init = ENGINE / package / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), package
