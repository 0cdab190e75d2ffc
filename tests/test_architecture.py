"""The shape of the code (DESIGN §7): layers, no import cycles, policies behind one interface.

The import graph is read from the source with ``ast``: every ``import`` of a tpusim module
counts - at module level, inside a function (a lazy import is still a dependency) and under
``if TYPE_CHECKING:`` (an annotation that names a higher layer couples the two as surely).
Each module belongs to one layer; an import may go to the same layer or a lower one, never up,
and the graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import tpusim
from tpusim.policies import registry

PACKAGE = Path(tpusim.__file__).parent

#: DESIGN §7, lowest first: config -> model -> simulation -> samples -> estimates -> output.
#: A module is placed by the longest prefix that names it.
LAYERS = [
    ("foundations", ["tpusim.core"]),
    ("geometry", ["tpusim.topology"]),
    ("failures", ["tpusim.failures"]),
    ("closed forms", ["tpusim.policies.analytic"]),
    ("policies", ["tpusim.policies"]),
    ("control plane", ["tpusim.scheduler"]),
    ("model", ["tpusim.engine.model"]),
    ("simulation", ["tpusim.engine.replication"]),
    ("execution", ["tpusim.engine.execution"]),
    ("config", ["tpusim.config"]),
    ("measurement", ["tpusim.measure"]),
    ("output", ["tpusim.output"]),
    ("studies", ["tpusim.studies"]),
    ("api", ["tpusim.api"]),
    ("entry points", ["tpusim.cli", "tpusim"]),
]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} belongs to no layer: place it in LAYERS (and in README's Layout)"
    return best




def imports(module: str, path: Path, known: set[str]) -> set[str]:
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found |= {n for n in names if n == "tpusim" or n.startswith("tpusim.")}
    return {n for n in found if n != module}


def import_graph() -> nx.DiGraph:
    mods = modules()
    graph = nx.DiGraph()
    for module, path in mods.items():
        graph.add_node(module)
        for target in imports(module, path, set(mods)):
            graph.add_edge(module, target)
    return graph


def test_every_import_goes_to_the_same_layer_or_below():
    upward = []
    for a, b in import_graph().edges:
        if layer_of(b) > layer_of(a):
            upward.append(f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(upward))


def test_the_package_has_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, f"import cycles: {cycles}"


def test_model_code_never_imports_output_cli_or_plotting():
    model_layers = {i for i, (name, _) in enumerate(LAYERS)
                    if name in ("geometry", "failures", "closed forms", "policies", "control plane", "model", "simulation")}
    graph = import_graph()
    for module in graph:
        if layer_of(module) in model_layers:
            bad = [t for t in graph.successors(module) if t.startswith(("tpusim.output", "tpusim.cli"))]
            assert not bad, f"{module} imports {bad}"
            external = _external_imports(modules()[module])
            assert not external & {"matplotlib", "rich", "typer", "pandas"}, f"{module} imports {external}"


def _external_imports(path: Path) -> set[str]:
    """Top-level names of the non-tpusim packages a module imports (at run time)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out - {"tpusim"}


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals of a module, docstrings excluded."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_policy_name_outside_the_policies_package():
    names = set(registry.names())
    assert {"static", "reconfigurable", "reconfigurable_ft"} <= names
    found = []
    for module, path in modules().items():
        if module.startswith("tpusim.policies"):
            continue
        for line, value in _string_constants(path):
            if value in names:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {value!r}")
    assert not found, "code outside tpusim/policies/ names a policy:\n" + "\n".join(found)


def test_no_behaviour_branches_on_a_policy_trait_outside_the_policies_package():
    """Policies answer questions (hooks); their traits only describe them. Outside
    tpusim/policies/ only studies may read ``wiring`` and ``ici_routing`` (to find a policy),
    and the capability flags the hooks replaced (issue 30) are gone."""
    traits, flags = {"wiring", "ici_routing"}, {"uses_ocs", "swaps_spares", "reroutes"}
    found = []
    for module, path in modules().items():
        if module.startswith("tpusim.policies"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (node.attr in flags or (
                    node.attr in traits and not module.startswith("tpusim.studies"))):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{node.attr}")
    assert not found, "code outside tpusim/policies/ reads a policy's traits:\n" + "\n".join(found)


def test_layers_cover_the_package_and_the_test_reads_real_imports():
    graph = import_graph()
    for module in graph:
        layer_of(module)  # every module is placed
    # the reader is not vacuous: known edges are seen, function-level imports included
    assert graph.has_edge("tpusim.scheduler.pool", "tpusim.policies.base")
    assert graph.has_edge("tpusim.output.presenter", "tpusim.output.summary")  # inside a method
    assert graph.has_edge("tpusim.output.summary", "tpusim.measure.results")  # under TYPE_CHECKING
    assert not any(b.startswith("tpusim.output") for b in graph.successors("tpusim.measure.results"))


def test_library_code_never_selects_a_matplotlib_backend():
    """Only the CLI may call matplotlib.use: a notebook keeps its inline backend."""
    calls = []
    for module, path in modules().items():
        if module == "tpusim.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("matplotlib.use", "mpl.use", "plt.switch_backend"):
                calls.append(f"{module}:{node.lineno}")
    assert not calls, calls


def test_plotting_leaves_the_callers_backend_alone():
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # a caller's own choice, which a library must not undo (Agg was the old habit)
    try:
        results = tpusim.run({"name": "b", "replications": 2, "horizon_days": 5, "slices": ["4x4x4"]})
        figure = results.plot()
        assert figure.axes and matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)


def test_import_and_cli_start_without_the_heavy_libraries():
    """`import tpusim` and `tpusim --help` stay fast (issue 10; timed by bench/bench_startup.py)
    because neither imports numpy, scipy, pandas, networkx, pydantic or simpy: the API and the
    commands import them on first use."""
    import subprocess
    import sys

    heavy = ["numpy", "scipy", "pandas", "networkx", "pydantic", "simpy", "matplotlib"]
    code = ("import sys, tpusim, tpusim.cli; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    help_ = subprocess.run([sys.executable, "-m", "tpusim.cli", "--help"], capture_output=True, text=True)
    assert help_.returncode == 0 and "reproduce" in help_.stdout


@pytest.mark.slow
def test_the_package_type_checks():
    """`mypy tpusim` is clean (configuration in pyproject.toml; the package ships py.typed)."""
    import subprocess
    import sys

    import pytest

    from conftest import REPO

    pytest.importorskip("mypy")
    done = subprocess.run([sys.executable, "-m", "mypy", "tpusim"], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (REPO / "tpusim" / "py.typed").exists()
