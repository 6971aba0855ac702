"""VAEDetector takes polars, pyarrow, PyCapsule and interchange tables with their names (issue 26, item 6).

Every method is called with each kind of table, and ``transform`` follows scikit-learn's
``set_output``. Each test compares with the same data given as a pandas DataFrame: the scores must
be equal.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import config_context

from vae_anomaly import InvalidInputError, SchemaMismatchError, VAEDetector
from vae_anomaly.features.frames import as_pandas, is_table
from vae_anomaly.persistence.modelfile import load_scorer

pl = pytest.importorskip("polars")

NAMES = ["temp", "pressure", "site"]


class CapsuleOnly:
    """A table that offers nothing but the Arrow PyCapsule stream (as DuckDB or Ibis results do)."""

    def __init__(self, table: pa.Table):
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


class InterchangeOnly:
    """A table that offers nothing but the dataframe interchange protocol."""

    def __init__(self, table: pa.Table):
        self._table = table

    def __dataframe__(self, nan_as_null=False, allow_copy=True):
        return self._table.__dataframe__(nan_as_null, allow_copy)


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"temp": rng.normal(20, 1, n), "pressure": rng.normal(1000, 5, n),
                         "site": rng.choice(["north", "south", "east"], n)})


TRAIN = _data(600, 0)
NEW = pd.concat([_data(60, 1), pd.DataFrame({"temp": [35.0], "pressure": [960.0], "site": ["north"]})],
                ignore_index=True)


def _as(kind: str, frame: pd.DataFrame):
    """``frame`` as a table of ``kind``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return {"pandas": lambda: frame, "polars": lambda: pl.from_pandas(frame), "pyarrow": lambda: table,
            "record_batch": lambda: table.combine_chunks().to_batches()[0],
            "capsule": lambda: CapsuleOnly(table), "interchange": lambda: InterchangeOnly(table)}[kind]()


KINDS = ["polars", "pyarrow", "record_batch", "capsule", "interchange"]


def _fit(X) -> VAEDetector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAEDetector(max_iter=4, random_state=0, device="cpu").fit(X)


@pytest.fixture(scope="module")
def reference() -> VAEDetector:
    """The model fitted on pandas."""
    return _fit(TRAIN)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_on_another_table_keeps_its_names_and_scores_as_pandas(kind, reference):
    det = _fit(_as(kind, TRAIN))
    assert list(det.feature_names_in_) == NAMES and det.n_features_in_ == 3
    assert [spec.name for spec in det.preprocessor_.schema_] == NAMES
    np.testing.assert_array_equal(det.score_samples(NEW), reference.score_samples(NEW))
    np.testing.assert_array_equal(det.score_samples(_as(kind, NEW)), reference.score_samples(NEW))
    assert det.threshold_ == reference.threshold_


@pytest.mark.parametrize("kind", KINDS)
def test_every_method_takes_another_table(kind, reference):
    X, det = _as(kind, NEW), reference
    np.testing.assert_array_equal(det.score_samples(X), det.score_samples(NEW))
    np.testing.assert_array_equal(det.decision_function(X), det.decision_function(NEW))
    np.testing.assert_array_equal(det.predict(X), det.predict(NEW))
    assert det.predict(X)[-1] == -1
    np.testing.assert_array_equal(det.p_values(X), det.p_values(NEW))
    np.testing.assert_array_equal(det.transform(X), det.transform(NEW))
    details, expected = det.score_details(X), det.score_details(NEW)
    np.testing.assert_array_equal(details.anomaly_score, expected.anomaly_score)
    np.testing.assert_array_equal(details.contributions, expected.contributions)
    assert det.drift(X).p_value == det.drift(NEW).p_value

    contributions, reconstruction = det.feature_contributions(X), det.reconstruct(X)
    want_kind = pl.DataFrame if kind == "polars" else pd.DataFrame
    assert isinstance(contributions, want_kind) and isinstance(reconstruction, want_kind)
    assert list(contributions.columns) == NAMES and list(reconstruction.columns) == NAMES
    np.testing.assert_array_equal(contributions.to_numpy(), det.feature_contributions(NEW).to_numpy())
    np.testing.assert_array_equal(np.asarray(reconstruction["temp"]), det.reconstruct(NEW)["temp"].to_numpy())
    assert list(reconstruction["site"]) == list(det.reconstruct(NEW)["site"])


def test_pandas_results_keep_the_index(reference):
    X = NEW.set_axis([f"r{i}" for i in range(len(NEW))])
    assert list(reference.feature_contributions(X).index) == list(X.index)
    assert list(reference.reconstruct(X).index) == list(X.index)


def test_extra_and_missing_columns_are_named(reference):
    wider = pl.from_pandas(NEW.assign(note="x"))
    np.testing.assert_array_equal(reference.score_details(wider).anomaly_score,
                                  reference.score_details(NEW).anomaly_score)
    with pytest.raises(SchemaMismatchError, match="column 'pressure' is missing"):
        reference.score_details(pa.Table.from_pandas(NEW.drop(columns="pressure")))
    with pytest.raises(ValueError, match="pressure"):  # scikit-learn's check of the names
        reference.score_samples(pl.from_pandas(NEW.drop(columns="pressure")))


def test_fit_on_polars_then_pandas_and_the_reverse(reference):
    on_polars = _fit(pl.from_pandas(TRAIN))
    np.testing.assert_array_equal(on_polars.score_samples(NEW), reference.score_samples(pl.from_pandas(NEW)))
    np.testing.assert_array_equal(reference.score_samples(pa.Table.from_pandas(NEW)),
                                  on_polars.score_samples(NEW))


@pytest.mark.parametrize("output", ["pandas", "polars"])
def test_set_output_gives_the_latent_means_as_a_frame(output, reference):
    det = _fit(pl.from_pandas(TRAIN)).set_output(transform=output)
    names = [f"vaedetector{i}" for i in range(reference.module_.latent_dim)]
    assert list(det.get_feature_names_out()) == names
    for X in (NEW, pl.from_pandas(NEW), pa.Table.from_pandas(NEW)):
        out = det.transform(X)
        assert isinstance(out, pd.DataFrame if output == "pandas" else pl.DataFrame)
        assert list(out.columns) == names
        np.testing.assert_array_equal(out.to_numpy(), reference.transform(NEW))
    with config_context(transform_output=output):
        out = reference.transform(pl.from_pandas(NEW))
    assert isinstance(out, pd.DataFrame if output == "pandas" else pl.DataFrame)
    assert isinstance(reference.transform(NEW), np.ndarray)  # the default is unchanged


def test_save_and_load_keep_the_names(tmp_path, reference):
    det = _fit(pa.Table.from_pandas(TRAIN))
    det.save(tmp_path / "m.vae")
    back = VAEDetector.load(tmp_path / "m.vae")
    assert list(back.feature_names_in_) == NAMES
    assert [spec.name for spec in back.preprocessor_.schema_] == NAMES
    np.testing.assert_array_equal(back.score_samples(pl.from_pandas(NEW)), reference.score_samples(NEW))
    scorer = load_scorer(tmp_path / "m.vae")  # the command line's scorer takes them too
    np.testing.assert_array_equal(scorer.score_details(pl.from_pandas(NEW)).anomaly_score,
                                  reference.score_details(NEW).anomaly_score)


def test_what_counts_as_a_table():
    assert is_table(pl.DataFrame({"a": [1]})) and is_table(CapsuleOnly(pa.table({"a": [1]})))
    assert not is_table(np.zeros((2, 2))) and not is_table(pa.array([1, 2]))
    assert not is_table(pa.chunked_array([[1, 2]])) and not is_table([[1, 2]])
    arr = np.zeros((2, 2))
    assert as_pandas(arr) is arr


def test_an_object_that_yields_no_table_is_refused_by_type():
    class Broken:
        def __arrow_c_stream__(self, requested_schema=None):
            raise TypeError("no stream today")

    with pytest.raises(InvalidInputError, match="cannot read a table from Broken: no stream today"):
        as_pandas(Broken())


def test_windowed_model_takes_polars_with_context():
    rng = np.random.default_rng(3)
    n = 240
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=n, freq="min"),
                          "machine": np.repeat(["m1", "m2"], n // 2), "rpm": rng.normal(100, 2, n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = VAEDetector(window=4, time_column="t", group_column="machine", max_iter=2, random_state=0,
                          device="cpu").fit(frame)
    tail, head = frame.iloc[:100], frame.iloc[100:]
    got = det.score_details(pl.from_pandas(head), context=pl.from_pandas(tail))
    np.testing.assert_array_equal(got.anomaly_score, det.score_details(head, context=tail).anomaly_score)
