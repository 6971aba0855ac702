"""The batch-independence check (benchmarks/batch_independence.py) finds rows whose results move.

The suite checks the property itself on small tables (tests/scoring); here
the script that checks it on millions of rows is run small, once on the
engine as it is (nothing may differ) and once on an engine whose products
round differently at some positions in a chunk, which the check must catch.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("batch_independence",
                                               ROOT / "benchmarks" / "batch_independence.py")
batch_independence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(batch_independence)

SMALL = ["--rows", "12000", "--window-rows", "3000", "--single", "15"]


@pytest.mark.slow
def test_no_row_moves_with_batch_size_order_or_threads(tmp_path, one_torch_thread):
    out = tmp_path / "check.json"
    assert batch_independence.main([*SMALL, "--json-out", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert {r["model"] for r in results} == {"row-wise", "windowed"}
    assert len(results) == 10 and all(r["differing_rows"] == 0 for r in results)


@pytest.mark.slow
def test_a_position_dependent_product_is_caught(monkeypatch, one_torch_thread):
    from vae_anomaly.scoring import numpy_engine

    products = numpy_engine._mlp

    def product_by_position(h, layers, relu_last):
        out = products(h, layers, relu_last)
        out[1::7] = np.nextafter(out[1::7], np.inf)  # the last bit of every 7th row of a chunk moves
        return out

    monkeypatch.setattr(numpy_engine, "_mlp", product_by_position)
    assert batch_independence.main([*SMALL, "--window-rows", "0"]) == 1
