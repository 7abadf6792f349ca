"""The house holds: every result renders by the type's own name; no import circle, counting
imports made inside functions too (shared/tools' reading of the package)."""
import ast
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnncost"


def test_every_result_class_names_its_renderer():
    from cnncost.analyses.roofline import Latency
    from cnncost.render import _renderers, formats
    from cnncost.results import commands
    from cnncost.results.report import ReportResult

    results = [c for _, c in inspect.getmembers(commands, inspect.isclass)
               if c.__module__ == commands.__name__ and c.__name__.endswith("Result")]
    assert len(results) >= 11
    for cls in results + [ReportResult, Latency]:
        assert cls.rendered_as in _renderers(), cls
        assert "json" in formats(cls) or cls is ReportResult


def _imports(path: Path) -> set[str]:
    """The cnncost modules a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("cnncost")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.startswith("cnncost"):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    files = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
             for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def test_no_import_circle_counting_imports_inside_functions():
    graph = _graph()
    # a package's face (__init__) re-exporting its modules is no circle of the code
    faces = {m for m in graph if (PACKAGE.parent / (m.replace(".", "/") + "/__init__.py")).exists()}
    edges = {m: {d for d in deps if d not in faces} for m, deps in graph.items() if m not in faces}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
                cycles.append(sorted(comp))
    for v in list(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import circles: {cycles}"


def test_docs_architecture_names_every_reader_and_where_a_change_goes():
    """docs/architecture.md stays true: every file suffix of the reader table, every module
    of interop/ and each kind of change has its place there."""
    from cnncost.interop.formats import BY_SUFFIX as FORMATS

    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for heading in ("## A new layer kind", "## A new file format", "## A new output format", "## A new analysis"):
        assert heading in text
    for suffix in FORMATS:
        assert f"`{suffix}`" in text, suffix
    for module in (PACKAGE / "interop").rglob("*.py"):
        if module.stem != "__init__":
            assert f"`{module.stem}`" in text, module.stem


# each floor and what it may never import (imports inside functions counted too)
FLOORS = {
    "cnncost.layers": ("spec", "core", "interop", "runtime", "analyses", "results", "render", "sources", "api"),
    "cnncost.spec": ("core", "interop", "runtime", "analyses", "results", "render", "sources", "api"),
    "cnncost.core": ("interop", "runtime", "analyses", "results", "render", "sources", "api"),
    "cnncost.interop": ("runtime", "analyses", "results", "render", "sources", "api"),
    "cnncost.runtime": ("analyses", "results", "render", "sources", "api"),
    "cnncost.analyses": ("render", "sources", "api"),
    "cnncost.sources": ("runtime", "analyses", "results", "render", "api"),
}


def test_every_floor_imports_only_the_floors_below_it():
    """The spec language imports no reader, the readers no executor, the core no reader:
    only the door (cnncost/sources.py) joins spec and readers."""
    broken = [f"{m} -> {d}" for m, deps in _graph().items() for floor, banned in FLOORS.items()
              if m == floor or m.startswith(floor + ".")
              for d in deps if any(d == f"cnncost.{b}" or d.startswith(f"cnncost.{b}.") for b in banned)]
    assert not broken, broken


def test_every_package_is_installed():
    """A package missing from pyproject's list is left out of a regular install (cnncost.formula
    was: `pip install .` gave ModuleNotFoundError while the editable install of the tests worked)."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "cnncost").rglob("__init__.py")}
    assert found - listed == set(), f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
