"""Every name and path the docs and docstrings point at exists: dotted names import, files are there.

A dotted name is ``vae_anomaly`` followed by attributes (``vae_anomaly.tables.read.TableReader``):
its longest importable module prefix is imported and the rest is looked up with ``getattr``. A path
is a file of this repository (``tests/robustness/test_interrupts.py``), optionally followed by
``::test_name``, which that file must define. The texts are README.md, docs/*.md and the docstrings
of every module of the package and of docs/*.py.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

DOTTED = re.compile(r"(?<![\w/.-])vae_anomaly(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w/.-])((?:tests|vae_anomaly|benchmarks|docs)/[\w/.-]*?\.py)(?:::(\w+))?")


def _docstrings(path: Path) -> str:
    """Every docstring of the module at ``path`` (the module's, its classes' and its functions')."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = (n for n in ast.walk(tree) if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef
                                                      | ast.AsyncFunctionDef))
    return "\n".join(doc for node in nodes if (doc := ast.get_docstring(node, clean=False)))


def _texts() -> dict[str, str]:
    markdown = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    modules = [*sorted((ROOT / "vae_anomaly").rglob("*.py")), *sorted((ROOT / "docs").glob("*.py"))]
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in markdown}
    texts.update({str(p.relative_to(ROOT)): _docstrings(p) for p in modules})
    return texts


TEXTS = _texts()


def resolve(dotted: str):
    """The object ``dotted`` names: its longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as missing:  # this prefix is no module: try a shorter one
            if missing.name is not None and (name == missing.name or name.startswith(missing.name + ".")):
                continue
            raise
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_resolve_finds_modules_attributes_and_nothing_else():
    from vae_anomaly.tables.read import TableReader

    assert resolve("vae_anomaly.tables.read.TableReader") is TableReader
    assert resolve("vae_anomaly.VAEDetector.fit") is resolve("vae_anomaly.detector.VAEDetector").fit
    for broken in ("vae_anomaly.io.TableReader", "vae_anomaly.tables.read.NoSuchReader"):
        with pytest.raises((ImportError, AttributeError)):
            resolve(broken)


@pytest.mark.parametrize("source", sorted(TEXTS))
def test_dotted_names_import(source):
    broken = []
    for name in sorted(set(DOTTED.findall(TEXTS[source]))):
        try:
            resolve(name)
        except (ImportError, AttributeError) as error:
            broken.append(f"{name} ({type(error).__name__}: {error})")
    assert not broken, f"{source} names what does not exist:\n  " + "\n  ".join(broken)


@pytest.mark.parametrize("source", sorted(TEXTS))
def test_file_paths_exist(source):
    broken = []
    for path, test in sorted(set(PATH.findall(TEXTS[source]))):
        file = ROOT / path
        if not file.is_file():
            broken.append(f"{path} (no such file)")
        elif test and not re.search(rf"^\s*def {test}\(", file.read_text(), flags=re.M):
            broken.append(f"{path}::{test} (no such test)")
    assert not broken, f"{source} points at what does not exist:\n  " + "\n  ".join(broken)
