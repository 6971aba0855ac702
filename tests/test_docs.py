"""The docs' examples run, and the API reference matches the docstrings."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import vae_anomaly

from .conftest import ROOT

MODULES = sorted(m.name for m in pkgutil.walk_packages(vae_anomaly.__path__, "vae_anomaly."))


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_api_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "api.md").read_text() == module.render(), "run: python docs/build_api.py"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_module_states_its_job_and_stays_small():
    for name in MODULES:
        module = importlib.import_module(name)
        assert module.__doc__ and module.__doc__.strip(), f"{name} has no docstring"
        lines = len(Path(module.__file__).read_text().splitlines())
        assert lines <= 300 or name == "vae_anomaly.detector", f"{name} has {lines} lines"


@pytest.mark.slow
@pytest.mark.parametrize("doc", ["docs/quickstart.md", "README.md", "docs/sensors.md"])
def test_python_examples_in_docs_run(doc, tmp_path, monkeypatch):
    blocks = _python_blocks(ROOT / doc)
    assert blocks
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, doc, "exec"), namespace)  # noqa: S102 - our own documentation
