"""The examples in the docs and in the docstrings run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re

import pytest

import vae_anomaly
from tests.helpers import ROOT, SAMPLE
from vae_anomaly import VAEDetector

MODULES = sorted(m.name for m in pkgutil.walk_packages(vae_anomaly.__path__, "vae_anomaly."))


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.slow
@pytest.mark.parametrize("doc", ["docs/quickstart.md", "README.md", "docs/sensors.md", "docs/concepts.md"])
def test_python_examples_in_docs_run(doc, tmp_path, monkeypatch):
    blocks = _python_blocks(ROOT / doc)
    assert blocks
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, doc, "exec"), namespace)  # noqa: S102 - our own documentation


@pytest.mark.slow
def test_python_examples_in_sensor_docs_run(tmp_path, monkeypatch):
    """The examples in docs/sensors.md run as written (they fit a default windowed model)."""
    blocks = _python_blocks(ROOT / "docs" / "sensors.md")
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").symlink_to(SAMPLE)
    namespace: dict = {"VAEDetector": VAEDetector}  # the first block is a one-line fragment
    for block in blocks:
        exec(compile(block, "docs/sensors.md", "exec"), namespace)  # noqa: S102 - our own documentation
