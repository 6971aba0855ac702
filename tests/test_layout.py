"""The package's layout holds: each module states its one job, the stage contracts are kept, no import cycles.

The stages and their order are declared once, as import-linter contracts in
pyproject.toml (``[tool.importlinter]``); docs/architecture.md says what each
stage holds.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from tests.helpers import ROOT

PACKAGE = ROOT / "vae_anomaly"
MODULE_FILES = sorted(PACKAGE.rglob("*.py"))
MAX_LINE = 110  # the line length of pyproject.toml: the summary and its quotes fit on one line
PLACEHOLDERS = re.compile(r"^(todo|tbd|fixme|xxx|placeholder|docstring|module|package|helpers?|utils|"
                          r"utilities|misc(ellaneous)?|stuff|code|functions)\b", re.I)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def summary_problem(summary: str) -> str | None:
    """Why ``summary`` (a docstring's first line) does not state one job in one sentence, or None."""
    if not summary.strip():
        return "the first line is empty: the docstring must open with its summary"
    if len('"""' + summary) > MAX_LINE:
        return f"the first line has {len(summary)} characters: with its quotes, more than {MAX_LINE}"
    if not summary.endswith("."):
        return "the first line is not a sentence ending in '.'"
    if re.search(r"[.!?] +[A-Z]", summary.rstrip(".")):
        return "the first line holds more than one sentence"
    if len(summary.split()) < 4 or PLACEHOLDERS.match(summary.strip("`*_ ")):
        return "the first line is a placeholder, not a job"
    return None


@pytest.mark.parametrize("path", MODULE_FILES, ids=_module_name)
def test_every_module_states_its_one_job_in_its_first_docstring_line(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring, f"{_module_name(path)} has no docstring"
    problem = summary_problem(docstring.splitlines()[0])
    assert problem is None, f"{_module_name(path)}: {problem}: {docstring.splitlines()[0]!r}"


@pytest.mark.parametrize(("summary", "problem"), [
    ("Read any supported table file whole, or as a stream of record batches.", None),
    ("``vae-detect info``: what a model file holds, from its verified metadata (the network is not built).",
     None),
    ("", "empty"),
    ("Helpers.", "placeholder"),
    ("TODO: write this docstring.", "placeholder"),
    ("Reading and writing tables", "sentence"),
    ("Reads tables. Also writes them.", "more than one sentence"),
    ("Reads " + "tables, " * 20 + "and more.", "characters"),
])
def test_summary_rule_tells_a_job_from_a_placeholder(summary, problem):
    found = summary_problem(summary)
    assert (found is None) if problem is None else (problem in found), found


def test_every_package_is_installed():
    """The wheel holds every package of the source tree: ``[tool.setuptools] packages`` lists them all."""
    tomllib = pytest.importorskip("tomllib")
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = [_module_name(p) for p in sorted(PACKAGE.rglob("__init__.py"))]
    assert sorted(listed) == sorted(found)


def test_import_contracts_are_kept():
    """``lint-imports`` (import-linter, configured in pyproject.toml) finds every contract kept."""
    script = Path(sys.executable).with_name("lint-imports")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"lint-imports found broken contracts:\n{output}"
    assert re.search(r"Contracts: \d+ kept, 0 broken", output), output


def _lazy_imports() -> list[tuple[str, str]]:
    """``(importer, imported)`` for each relative ``from ..x import y`` inside a function of the package."""
    found = []
    for path in MODULE_FILES:
        importer = _module_name(path)
        package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.ImportFrom) and node.level and node.module:
                        base = package[:len(package) - node.level + 1]
                        found.append((importer, ".".join([*base, node.module])))
    return found


def import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of modules (and modules importing themselves) in ``imports``."""
    modules = sorted(set(imports) | {b for targets in imports.values() for b in targets})
    index = {name: i for i, name in enumerate(modules)}
    edges = np.array([(index[a], index[b]) for a, targets in imports.items() for b in targets]).reshape(-1, 2)
    adjacency = csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(modules),) * 2)
    _, component = connected_components(adjacency, directed=True, connection="strong")
    groups = [[m for m, c in zip(modules, component, strict=True) if c == k] for k in np.unique(component)]
    return [g for g in groups if len(g) > 1] + [[a] for a, targets in imports.items() if a in targets]


def test_import_cycles_finds_loops_and_nothing_else():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"a"}}) == [["a"]]


def test_no_import_cycles_among_the_packages_modules():
    """No module imports itself through others, counting imports inside functions (lazy ones)."""
    import grimp

    graph = grimp.build_graph("vae_anomaly", cache_dir=None)
    lazy = _lazy_imports()
    seen = [graph.direct_import_exists(importer=a, imported=b, as_packages=True) for a, b in lazy]
    assert lazy and all(seen), "the graph misses imports made inside functions"
    cycles = import_cycles({m: graph.find_modules_directly_imported_by(m) for m in graph.modules})
    listed = "\n".join(", ".join(c) for c in cycles)
    assert not cycles, f"modules that import each other, directly or not:\n{listed}"
