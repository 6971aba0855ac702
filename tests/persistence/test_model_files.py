"""Model files: identical scores after a round trip, and refusal of anything unsafe or damaged."""

from __future__ import annotations

import pickle
import zipfile

import joblib
import numpy as np
import pytest

from tests.helpers import repack_model
from vae_anomaly import ModelFileError, VAEDetector
from vae_anomaly.persistence import modelfile as persistence


@pytest.fixture(scope="module")
def fitted(tabular_features):
    df = tabular_features.head(800)
    return VAEDetector(max_iter=5, random_state=0).fit(df), df


def test_save_load_gives_identical_results(fitted, tmp_path):
    det, df = fitted
    det.save(tmp_path / "m.vae")
    back = VAEDetector.load(tmp_path / "m.vae")
    assert np.array_equal(det.score_samples(df), back.score_samples(df))
    assert np.array_equal(det.predict(df), back.predict(df))
    assert np.array_equal(det.p_values(df), back.p_values(df))
    assert back.feature_contributions(df).equals(det.feature_contributions(df))
    assert back.get_params() == det.get_params()
    assert list(back.feature_names_in_) == list(df.columns)


def test_joblib_round_trip(fitted, tmp_path):
    det, df = fitted
    joblib.dump(det, tmp_path / "m.joblib")
    assert np.array_equal(joblib.load(tmp_path / "m.joblib").score_samples(df), det.score_samples(df))


def test_metadata_holds_what_a_reader_needs(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "m.vae")
    meta = persistence.read_metadata(tmp_path / "m.vae")
    assert meta["format_version"] == persistence.FORMAT_VERSION
    assert {"vae_anomaly", "torch"} <= set(meta["versions"])
    assert [c["name"] for c in meta["preprocessing"]["schema"]] == list(det.feature_names_in_)
    assert meta["calibration"]["threshold"] == det.threshold_
    assert meta["calibration"]["method"] == "target_fpr"
    assert meta["training"]["n_iter"] == det.n_iter_
    with zipfile.ZipFile(tmp_path / "m.vae") as zf:
        assert sorted(zf.namelist()) == ["metadata.json", "tensors.safetensors"]


def _rewrite(path, mutate_meta=None, extra=None):
    """Re-pack a model file in place with changed metadata or an extra member, checksum valid."""
    path.write_bytes(repack_model(path.read_bytes(), mutate_meta, extra))


def _bad_files(good: bytes, tmp_path):
    yield "truncated", good[: len(good) // 2], "truncated"
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0x01
    yield "bit-flipped", bytes(flipped), "checksum"
    yield "pickle", pickle.dumps({"weights": [1, 2]}), "pickle"
    yield "empty", b"", "not a vae-anomaly model"
    yield "text", b"hello\n", "not a vae-anomaly model"


def test_damaged_or_foreign_files_are_refused(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "good.vae")
    good = (tmp_path / "good.vae").read_bytes()
    for name, data, message in _bad_files(good, tmp_path):
        path = tmp_path / f"{name}.vae"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=message):
            VAEDetector.load(path)


def test_pickled_member_is_refused_and_never_run(fitted, tmp_path):
    det, _ = fitted
    path = tmp_path / "m.vae"
    det.save(path)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle was executed')",))

    _rewrite(path, extra={"payload.pkl": pickle.dumps(Boom())})
    with pytest.raises(ModelFileError, match="unexpected members"):
        VAEDetector.load(path)


def test_newer_format_names_the_version_it_needs(fitted, tmp_path):
    det, _ = fitted
    path = tmp_path / "m.vae"
    det.save(path)

    def bump(meta):
        meta["format_version"] = 99
        meta["versions"]["vae_anomaly"] = "9.1.0"

    _rewrite(path, bump)
    with pytest.raises(ModelFileError, match="version 99.*9.1.0"):
        VAEDetector.load(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        VAEDetector.load(tmp_path / "nope.vae")
    with pytest.raises(ModelFileError, match="directory"):
        VAEDetector.load(tmp_path)


def test_failed_save_keeps_the_existing_model(fitted, tmp_path, monkeypatch):
    det, df = fitted
    path = tmp_path / "m.vae"
    det.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(persistence, "model_bytes", lambda d: b"partial" + broken())
    with pytest.raises(RuntimeError):
        det.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.vae"]


def test_version_1_file_loads_as_the_gaussian_model_it_was(tabular_features, tmp_path):
    # Files written before the likelihood was recorded hold Gaussian models: no
    # `likelihood` parameter, no `student_df`, format version 1.
    df = tabular_features.head(800)
    det = VAEDetector(likelihood="gaussian", max_iter=5, random_state=0).fit(df)
    det.save(tmp_path / "new.vae")

    def as_version_1(meta):
        meta["format_version"] = 1
        del meta["params"]["likelihood"], meta["network"]["student_df"]

    (tmp_path / "old.vae").write_bytes(repack_model((tmp_path / "new.vae").read_bytes(), as_version_1))
    old = VAEDetector.load(tmp_path / "old.vae")
    assert old.likelihood == "gaussian" and old.module_.student_df is None
    assert np.array_equal(old.score_samples(df), det.score_samples(df))
    scorer = persistence.load_scorer(tmp_path / "old.vae")
    assert np.array_equal(scorer.score_details(df).anomaly_score, det.score_details(df).anomaly_score)


def test_likelihood_is_recorded_and_a_bad_one_is_refused(tabular_features, tmp_path):
    df = tabular_features.head(800)
    det = VAEDetector(likelihood="student-t", max_iter=5, random_state=0).fit(df)
    det.save(tmp_path / "m.vae")
    assert np.array_equal(VAEDetector.load(tmp_path / "m.vae").score_samples(df), det.score_samples(df))
    meta = persistence.read_metadata(tmp_path / "m.vae")
    assert meta["params"]["likelihood"] == "student-t" and meta["network"]["student_df"] == 4.0
    bad = repack_model((tmp_path / "m.vae").read_bytes(), lambda m: m["network"].update(student_df=-1))
    (tmp_path / "bad.vae").write_bytes(bad)
    for load in (VAEDetector.load, persistence.load_scorer):
        with pytest.raises(ModelFileError, match="corrupt.*degrees of freedom"):
            load(tmp_path / "bad.vae")


def test_a_file_from_before_identifiers_were_left_out_loads_with_none(fitted, tmp_path):
    """Format 5 files have no ``ignored_columns`` and no ``include_columns`` parameter."""
    det, df = fitted
    det.save(tmp_path / "new.vae")
    assert persistence.read_metadata(tmp_path / "new.vae")["ignored_columns"] == {}

    def as_version_5(meta):
        meta["format_version"] = 5
        del meta["ignored_columns"], meta["params"]["include_columns"]

    (tmp_path / "old.vae").write_bytes(repack_model((tmp_path / "new.vae").read_bytes(), as_version_5))
    old = VAEDetector.load(tmp_path / "old.vae")
    assert old.ignored_columns_ == {} and old.include_columns is None
    assert np.array_equal(old.score_samples(df), det.score_samples(df))
    assert persistence.load_scorer(tmp_path / "old.vae").ignored_columns_ == {}


def test_a_bad_ignored_columns_section_is_refused(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "m.vae")
    _rewrite(tmp_path / "m.vae", lambda m: m.update(ignored_columns=["order_id"]))
    for load in (VAEDetector.load, persistence.load_scorer):
        with pytest.raises(ModelFileError, match="invalid 'ignored_columns' section"):
            load(tmp_path / "m.vae")
