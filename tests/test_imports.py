"""Import hygiene: every module imports on its own, there is no import cycle, the library
never imports the command line, and nothing in sketchlab/ imports Streamlit.

Modules are found by walking sketchlab/ on disk, so the checks follow the package as it
grows or is regrouped into subpackages. The graph is read from the source with `ast` and
counts imports inside functions too: a lazy import still ties two modules together.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "sketchlab"


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name → file, for every .py under the package folder."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the package's modules it imports (anywhere in its body).

    Importing `a.b.c` runs the `a.b` package too, so that is an edge as well, except into the
    importer's own parent packages: Python has already run those before the importer starts.
    """
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    stem = here[: len(here) - node.level + 1]
                    base = ".".join(stem + ([node.module] if node.module else []))
                for alias in node.names:  # `from pkg import mod` imports the submodule
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        edges = set()
        for target in targets:
            for t in [*_ancestors(target), target]:
                if t in modules and t != name and t not in _ancestors(name):
                    edges.add(t)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def is_cli(name: str) -> bool:
    """Command-line code: `__main__`, `cli`, a `cli/` subpackage, `cli_*` or `*_cli` modules."""
    return any(p in ("cli", "__main__") or p.startswith("cli_") or p.endswith("_cli")
               for p in name.split(".")[1:])


MODULES = module_files(PACKAGE_DIR)
GRAPH = import_graph(MODULES)


def test_every_module_imports_on_its_own():
    # One fresh interpreter; before each module every sketchlab module is dropped from
    # sys.modules, so a module that works only after another one was imported fails here.
    # (Third-party packages stay loaded: they cost seconds and cannot hide our order bugs.)
    script = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for m in [m for m in sys.modules if m == 'sketchlab' or m.startswith('sketchlab.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException:\n"
        "        failed.append(name + ':\\n' + traceback.format_exc())\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    assert len(MODULES) > 10
    done = subprocess.run([sys.executable, "-c", script, *MODULES], cwd=PACKAGE_DIR.parent,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_there_is_no_import_cycle():
    assert find_cycles(GRAPH) == []


def test_the_library_never_imports_the_command_line():
    bad = {name: sorted(t for t in targets if is_cli(t)) for name, targets in GRAPH.items() if not is_cli(name)}
    assert {k: v for k, v in bad.items() if v} == {}
    assert any(is_cli(name) for name in MODULES)  # the check has something to find


def test_no_streamlit_in_the_library():
    # The canvas component works only inside a running Streamlit script: pages use it, never sketchlab/.
    hits = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            hits += [f"{name} imports {n}" for n in names if n.split(".")[0] in ("streamlit", "streamlit_drawable_canvas")]
    assert hits == []


# ---------------------------------------------------------------- the checks themselves


def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root / "pkg")


@pytest.mark.parametrize("files, cycle", [
    ({"__init__.py": "", "a.py": "from . import b", "b.py": "def f():\n    from .a import x"}, ["pkg.a", "pkg.b"]),
    ({"__init__.py": "", "a.py": "from .sub.c import y", "sub/__init__.py": "from ..a import z",
      "sub/c.py": ""}, ["pkg.a", "pkg.sub"]),
    ({"__init__.py": "", "sub/__init__.py": "from .c import y", "sub/c.py": "from . import d",
      "sub/d.py": "from pkg import __version__"}, None),
])
def test_the_cycle_finder_sees_lazy_and_package_cycles(tmp_path, files, cycle):
    found = find_cycles(import_graph(write_package(tmp_path, files)))
    assert found == ([cycle] if cycle else [])


def test_cli_names():
    assert is_cli("sketchlab.cli") and is_cli("sketchlab.cli.data") and is_cli("sketchlab.sweep_cli")
    assert is_cli("sketchlab.__main__") and is_cli("sketchlab.cli.common")
    assert not is_cli("sketchlab.sweeps.workers") and not is_cli("sketchlab.client")
