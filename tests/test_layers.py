"""livedj's imports point one way and never in a circle (parsed from the source, lazy imports included).

Layers, lowest first: a module may import its own package and any lower layer, never a higher one.
``adapt`` (the booth head and its training data) sits under ``encoders`` because the booth
encoder (``encoders/adapted.py``) is musicnn plus a head; nothing in ``adapt`` embeds with an encoder.
"""
from __future__ import annotations

import ast
from pathlib import Path

import livedj

ROOT = Path(livedj.__file__).resolve().parent
LAYERS = [
    {"fsutil", "words", "pathmap", "progress", "config", "config_checks", "resources", "audio", "dsp", "synth"},  # config: the schema and defaults; config_checks: its value checks
    {"adapt", "mix"},  # mix: rendering over audio and dsp only
    {"encoders"},
    {"library"},
    {"engine"},
    {"outputs", "control", "service"},
    {"commands"},
    {"cli", "__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every livedj module ``path`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "livedj")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "livedj":
                continue
            for alias in node.names:  # `from livedj.library import index` imports a module
                sub = f"{base}.{alias.name}"
                out.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                        or (ROOT.parent / sub.replace(".", "/")).is_dir() else base)
    return out - {me}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the package root (livedj/__init__.py: environment, start time) is below everything
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module}: no layer; add its package to LAYERS in {__file__}")


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, targets in graph().items():
        mine = layer(module)
        for target in targets:
            theirs = layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    # modules that are packages are entered by importing their children: drop package -> child edges
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    # the test above would pass vacuously if the parser missed imports inside functions
    edges = graph()
    assert "livedj.encoders.musicnn" in edges["livedj.engine.embed"]  # imported inside make_embedder
    assert "livedj.library.index" in edges["livedj.engine.loader"]  # `from livedj.library import index`


def test_no_module_reaches_into_another_modules_private_names():
    """``from livedj.x import _name`` and ``x._name`` on an imported livedj module are refused:
    what another module needs is public (and documented) in the module that owns it. (Attributes of
    instances, e.g. ``encoder._run``, are not typed here: reviews catch those.)"""
    reaching = []
    for path in sorted(ROOT.rglob("*.py")):
        me = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        modules: set[str] = set()  # local names bound to livedj modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("livedj"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        reaching.append(f"{me}: from {node.module} import {alias.name}")
                    sub = ROOT.parent / f"{node.module}.{alias.name}".replace(".", "/")
                    if sub.with_suffix(".py").exists() or sub.is_dir():
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                modules.update(a.asname for a in node.names if a.asname and a.name.startswith("livedj"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                reaching.append(f"{me}: {node.value.id}.{node.attr}")
    assert not reaching, "private names used across modules:\n" + "\n".join(reaching)


def test_no_module_is_longer_than_the_house_rule():
    """A module is one room a newcomer can read in one sitting: about 400 lines at most. library/store.py had
    grown to 409 (its schema, upgrade and bad-row check now live in library/store_schema.py)."""
    long = {module_name(p): n for p in sorted(ROOT.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"
