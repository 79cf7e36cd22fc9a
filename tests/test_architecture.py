"""The floors of ARCHITECTURE.md hold on the real import graph of neurodcn/.

Every module under neurodcn/ is parsed with ``ast``; every import counts wherever it stands (module level, inside
functions, under ``if TYPE_CHECKING:`` or ``try``). ``from p import n`` is an edge to the module p.n where that is
a module, else to p. A module imports only from its own floor or below; floor 0 imports nothing of neurodcn but
what FLOOR0_MAY_IMPORT allows; ``analysis`` never imports ``cortex``; no modules import each other in a circle
(strongly connected components of the graph, scipy.sparse.csgraph). Imports by string (importlib) are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

PACKAGE = Path(__file__).resolve().parents[1] / "neurodcn"

FLOORS = {
    "_version": 0, "validate": 0, "schema": 0, "threads": 0, "progress": 0,
    "nn": 1, "data": 1, "io": 1,
    "analysis": 2, "train": 2,
    "cortex": 3,
    "paper": 4,
    "cli": 5, "demo": 5, "__main__": 5,
}
"""Floor of each part of the package (neurodcn.<part>...), as ARCHITECTURE.md's diagram draws it."""
TOP = 6
"""Floor of neurodcn/__init__.py (the public nd.* names), above all others."""
FLOOR0_MAY_IMPORT = {"schema": {"_version", "validate"}, "threads": {"_version", "validate"}}
"""Floor 0 imports nothing of neurodcn, except these parts."""
NEVER = {("analysis", "cortex")}
"""(importer, imported) parts that must never meet: the data side never imports the model side."""


def part(module: str) -> str:
    """The part of the package a dotted module name lies in ("neurodcn" itself for the top __init__)."""
    return module.split(".")[1] if "." in module else module


def floor(module: str) -> int | None:
    """The floor of a module; None for a part ARCHITECTURE.md does not place."""
    return TOP if module == "neurodcn" else FLOORS.get(part(module))


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The neurodcn modules that ``source`` (of ``module``; a package's __init__ when is_package) imports at any
    depth of its syntax tree, relative imports resolved; ``from p import n`` is p.n when that is in ``known``."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) + 1 - node.level]) if node.level else ""
            pkg = ".".join(p for p in (base, node.module) if p)
            found |= {f"{pkg}.{alias.name}" if f"{pkg}.{alias.name}" in known else pkg for alias in node.names}
    return {m for m in found if m != module and (m == "neurodcn" or m.startswith("neurodcn."))}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the neurodcn modules it imports} for every .py file under root (a package named root.name)."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    known = set(files)
    return {m: imported_modules(p.read_text(), m, p.name == "__init__.py", known) for m, p in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The sets of modules (sorted) that import each other in a circle: the strongly connected components of
    more than one module."""
    names = sorted(set(edges).union(*edges.values()))
    index = {n: i for i, n in enumerate(names)}
    pairs = np.array([(index[a], index[b]) for a, bs in edges.items() for b in bs], dtype=np.int64).reshape(-1, 2)
    graph = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(names), len(names)))
    _, labels = connected_components(graph, directed=True, connection="strong")
    groups = [sorted(names[i] for i in np.flatnonzero(labels == k)) for k in np.unique(labels)]
    return [g for g in groups if len(g) > 1]


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import of ``edges`` that breaks a rule of ARCHITECTURE.md, and every import circle, in words."""
    found = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            fa, fb = floor(a), floor(b)
            if fa is None or fb is None:
                found.append(f"{a} imports {b}: {a if fa is None else b} is on no floor of ARCHITECTURE.md")
            elif (part(a), part(b)) in NEVER:
                found.append(f"{a} imports {b}: {part(a)}/ must never import {part(b)}/")
            elif fb > fa:
                found.append(f"{a} (floor {fa}) imports {b} (floor {fb}): an upward import")
            elif fa == fb == 0 and part(a) != part(b) and part(b) not in FLOOR0_MAY_IMPORT.get(part(a), ()):
                found.append(f"{a} imports {b}: floor 0 {part(a)} may import only "
                             f"{sorted(FLOOR0_MAY_IMPORT.get(part(a), [])) or 'nothing of neurodcn'}")
    found += [f"import cycle among {', '.join(group)}" for group in cycles(edges)]
    return found


GRAPH = import_graph()


def test_every_module_is_on_a_floor():
    assert len(GRAPH) > 50 and {"neurodcn", "neurodcn.cortex.virtual_cortex", "neurodcn.schema"} <= set(GRAPH)
    assert not [m for m in GRAPH if floor(m) is None], "place new parts of the package in FLOORS (ARCHITECTURE.md)"


def test_the_package_keeps_its_floors_and_has_no_import_cycle():
    assert violations(GRAPH) == []


def test_imports_are_found_at_any_depth_and_resolved():
    source = '''
from __future__ import annotations
from typing import TYPE_CHECKING
import numpy as np
from neurodcn.validate import check_int
from neurodcn.cortex import readout as _readout, VirtualCortex
from . import fits
from ..nn.srf import SRFConv2d
if TYPE_CHECKING:
    from neurodcn.train.checkpoint import load_checkpoint
def f():
    import neurodcn.paper.results
    try:
        from neurodcn import demo
    except ImportError:
        pass
'''
    known = {"neurodcn.cortex.readout", "neurodcn.analysis.fits", "neurodcn.demo"}
    assert imported_modules(source, "neurodcn.analysis.ensembles", False, known) == {
        "neurodcn.validate", "neurodcn.cortex.readout", "neurodcn.cortex", "neurodcn.analysis.fits",
        "neurodcn.nn.srf", "neurodcn.train.checkpoint", "neurodcn.paper.results", "neurodcn.demo",
    }
    assert imported_modules("from . import fits\nfrom .plots import style", "neurodcn.analysis", True, known) == {
        "neurodcn.analysis.fits", "neurodcn.analysis.plots"}


@pytest.mark.parametrize("edge, message", [
    (("neurodcn.nn.srf", "neurodcn.cortex.readout"), "(floor 1) imports neurodcn.cortex.readout (floor 3): an upward"),
    (("neurodcn.paper.fig3_sigma", "neurodcn"), "(floor 4) imports neurodcn (floor 6): an upward"),
    (("neurodcn.analysis.fits", "neurodcn.cortex.readout"), "analysis/ must never import cortex/"),
    (("neurodcn.validate", "neurodcn._version"), "floor 0 validate may import only nothing of neurodcn"),
    (("neurodcn.schema", "neurodcn.progress"), "floor 0 schema may import only ['_version', 'validate']"),
    (("neurodcn.plugins.x", "neurodcn.nn.srf"), "neurodcn.plugins.x is on no floor"),
])
def test_a_broken_rule_is_reported(edge, message):
    a, b = edge
    found = violations({a: {b}, "neurodcn.cortex.geometry": {"neurodcn.nn.grid"}})  # beside a legal edge
    assert len(found) == 1 and message in found[0], found


def test_an_import_cycle_is_reported_on_one_floor_too():
    edges = {"neurodcn.nn.a": {"neurodcn.nn.b"}, "neurodcn.nn.b": {"neurodcn.data.c"},
             "neurodcn.data.c": {"neurodcn.nn.a", "neurodcn.io.d"}, "neurodcn.io.d": set()}
    assert violations(edges) == ["import cycle among neurodcn.data.c, neurodcn.nn.a, neurodcn.nn.b"]
    assert violations({**edges, "neurodcn.data.c": {"neurodcn.io.d"}}) == []
    assert [m for m in GRAPH if m in GRAPH[m]] == []  # a module importing its own name is no edge
