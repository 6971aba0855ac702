"""The docs' examples run, and the API reference matches the docstrings."""

from __future__ import annotations

import doctest
import importlib.util
import re

import pytest

import vae_anomaly.calibration
import vae_anomaly.detector

from .conftest import ROOT


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_api_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "api.md").read_text() == module.render(), "run: python docs/build_api.py"


@pytest.mark.parametrize("module", [vae_anomaly.calibration, vae_anomaly.detector])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


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
