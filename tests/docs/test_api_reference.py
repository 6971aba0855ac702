"""docs/api.md is the API reference that docs/build_api.py renders from the docstrings today."""

from __future__ import annotations

import importlib.util

from tests.helpers import ROOT


def test_api_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "api.md").read_text() == module.render(), "run: python docs/build_api.py"
