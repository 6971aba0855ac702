"""Object storage (issue 26.3): the CLI's paths and ``VAEDetector.save``/``load`` take ``s3://`` URIs.

Against the local moto server of ``conftest.py``: the results on S3 equal
those of the same files on disk row for row, a write that fails or is
interrupted leaves no object (and an existing one as it was), and
temporaries that a killed run left are removed by the next run (issue 27.4).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest

import vae_anomaly.jobs.score as score_job
import vae_anomaly.tables.temporary as temporary
import vae_anomaly.tables.write as write
from tests.helpers import SAMPLE, invoke
from vae_anomaly import InvalidInputError, ModelFileError, VAEDetector

OLD = b"yesterday's scores, which must survive"


def ok(result) -> None:
    assert result.exit_code == 0, (result.output, result.exception)


def notes(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("note: ")]


def upload(bucket, local: Path, key: str) -> None:
    pa_fs.copy_files(str(local), bucket.path(key), source_filesystem=pa_fs.LocalFileSystem(),
                     destination_filesystem=bucket.fs)


def download(bucket, key: str, local: Path) -> Path:
    pa_fs.copy_files(bucket.path(key), str(local), source_filesystem=bucket.fs,
                     destination_filesystem=pa_fs.LocalFileSystem())
    return local


def read(bucket, key: str) -> bytes:
    with bucket.fs.open_input_stream(bucket.path(key)) as stream:
        return stream.read()


def put(bucket, key: str, data: bytes) -> None:
    with bucket.fs.open_output_stream(bucket.path(key)) as stream:
        stream.write(data)


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    """train.parquet (400 rows), new.parquet (300), a hive-partitioned lake/ of new's rows, a model."""
    where = tmp_path_factory.mktemp("s3-local")
    data = pd.read_parquet(SAMPLE / "tabular.parquet")
    data.iloc[:400].to_parquet(where / "train.parquet", index=False)
    new = data.iloc[400:700].reset_index(drop=True)
    new.to_parquet(where / "new.parquet", index=False, row_group_size=100)  # 3 Dask partitions
    for i, site in enumerate(("north", "south")):
        (where / "lake" / f"site={site}").mkdir(parents=True)
        new.iloc[i * 150:(i + 1) * 150].to_parquet(where / "lake" / f"site={site}" / "part-0.parquet",
                                                   index=False, row_group_size=50)
    ok(invoke("fit", where / "train.parquet", "-m", where / "model.vae", "-x", "label", "--epochs", 2,
              "--seed", 0, "-q"))
    return where


def test_fit_score_evaluate_report_and_info_on_s3_equal_the_local_files(s3, local, tmp_path):
    upload(s3, local / "train.parquet", "in/train.parquet")
    upload(s3, local / "new.parquet", "in/new.parquet")
    model = s3.uri("models/m.vae")

    fitted = invoke("fit", s3.uri("in/train.parquet"), "-m", model, "-x", "label", "--epochs", 2, "--seed", 0)
    ok(fitted)
    assert f"model written to {model}" in fitted.stderr
    assert s3.keys("models") == ["models/m.vae"]
    mine = download(s3, "models/m.vae", tmp_path / "m.vae")
    new = pd.read_parquet(local / "new.parquet")
    np.testing.assert_array_equal(VAEDetector.load(mine).score_samples(new.drop(columns=["id", "label"])),
                                  VAEDetector.load(local / "model.vae").score_samples(
                                      new.drop(columns=["id", "label"])))

    described = invoke("info", model, "--json")
    ok(described)
    assert json.loads(described.stdout)["model"] == model
    assert (json.loads(described.stdout)["columns"]
            == json.loads(invoke("info", mine, "--json").stdout)["columns"])

    ok(invoke("score", s3.uri("in/new.parquet"), "-m", model, "-o", s3.uri("out/scores.parquet"),
              "--batch-size", 64))
    ok(invoke("score", local / "new.parquet", "-m", mine, "-o", tmp_path / "scores.parquet"))
    got = pd.read_parquet(download(s3, "out/scores.parquet", tmp_path / "got.parquet"))
    pd.testing.assert_frame_equal(got, pd.read_parquet(tmp_path / "scores.parquet"))
    ok(invoke("score", s3.uri("in/new.parquet"), "-m", model, "-q"))  # default: beside the input
    assert s3.exists("in/new.scores.parquet")

    on_s3 = invoke("evaluate", s3.uri("in/new.parquet"), "-m", model, "-l", "label", "--json")
    ok(on_s3)
    on_disk = invoke("evaluate", local / "new.parquet", "-m", mine, "-l", "label", "--json")
    assert json.loads(on_s3.stdout) == json.loads(on_disk.stdout)

    reported = invoke("report", s3.uri("in/new.parquet"), "-m", model, "-o", s3.uri("reports/new.html"),
                      "-l", "label", "--top", 5)
    ok(reported)
    assert s3.uri("reports/new.html") in reported.stderr
    assert read(s3, "reports/new.html").lstrip().lower().startswith(b"<!doctype html")
    assert s3.keys() == sorted(["in/new.parquet", "in/new.scores.parquet", "in/train.parquet",
                                "models/m.vae", "out/scores.parquet", "reports/new.html"])


def test_a_partitioned_folder_on_s3_scores_row_for_row_like_its_local_copy(s3, local, tmp_path):
    for site in ("north", "south"):
        upload(s3, local / "lake" / f"site={site}" / "part-0.parquet", f"lake/site={site}/part-0.parquet")
    upload(s3, local / "model.vae", "m.vae")
    ok(invoke("score", s3.uri("lake/"), "-m", s3.uri("m.vae"), "--batch-size", 40, "-q"))
    assert s3.exists("lake.scores.parquet")  # a directory's default output: beside it
    ok(invoke("score", local / "lake", "-m", local / "model.vae", "-o", tmp_path / "lake.parquet", "-q"))
    got = pd.read_parquet(download(s3, "lake.scores.parquet", tmp_path / "got.parquet"))
    want = pd.read_parquet(tmp_path / "lake.parquet")
    assert list(got["site"].astype(str)) == ["north"] * 150 + ["south"] * 150
    pd.testing.assert_frame_equal(got, want)


def test_a_write_that_fails_part_way_leaves_no_object(s3, local, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the staging files go, to look at them
    monkeypatch.setattr(temporary.tempfile, "tempdir", None)
    upload(s3, local / "new.parquet", "new.parquet")
    upload(s3, local / "model.vae", "m.vae")
    put(s3, "out/old.parquet", OLD)
    real = score_job.output_batch
    calls = []

    def fail_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) % 3 == 0:
            raise OSError(5, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(score_job, "output_batch", fail_on_the_third)
    for key in ("out/new.parquet", "out/old.parquet"):  # a new object, and one that exists
        failed = invoke("score", s3.uri("new.parquet"), "-m", s3.uri("m.vae"), "-o", s3.uri(key),
                        "--batch-size", 50, "--jobs", 1)
        assert failed.exit_code == 1 and failed.stderr.strip() == "error: Input/output error", failed.output
    assert len(calls) == 6
    assert s3.keys() == ["m.vae", "new.parquet", "out/old.parquet"]
    assert read(s3, "out/old.parquet") == OLD
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_scoring_to_s3_leaves_no_object_and_keeps_the_old_one(s3, local, monkeypatch):
    upload(s3, local / "new.parquet", "new.parquet")
    upload(s3, local / "model.vae", "m.vae")
    put(s3, "out/old.parquet", OLD)
    real = score_job.output_batch
    calls = []

    def interrupt_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(score_job, "output_batch", interrupt_the_third)
    stopped = invoke("score", s3.uri("new.parquet"), "-m", s3.uri("m.vae"), "-o", s3.uri("out/old.parquet"),
                     "--batch-size", 50, "--jobs", 1)
    assert stopped.exit_code == 130 and "interrupted by SIGINT" in stopped.stderr, stopped.output
    assert s3.keys() == ["m.vae", "new.parquet", "out/old.parquet"]
    assert read(s3, "out/old.parquet") == OLD


def test_an_upload_the_store_refuses_leaves_no_object_and_no_staging_file(s3, local, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the staging files go, to look at them
    monkeypatch.setattr(temporary.tempfile, "tempdir", None)
    det = VAEDetector.load(local / "model.vae")
    det.save(s3.uri("models/m.vae"))
    before = read(s3, "models/m.vae")

    def refuse(*args, **kwargs):
        raise OSError("When uploading: AWS Error ACCESS_DENIED")

    monkeypatch.setattr(write.pa_fs, "copy_files", refuse)
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        det.save(s3.uri("models/m.vae"))
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        det.save(s3.uri("models/new.vae"))
    monkeypatch.undo()
    assert s3.keys() == ["models/m.vae"] and read(s3, "models/m.vae") == before
    assert list(tmp_path.iterdir()) == []


def test_save_and_load_on_s3_through_the_python_api(s3, local):
    det = VAEDetector.load(local / "model.vae")
    det.save(s3.uri("api/model.vae"))
    again = VAEDetector.load(s3.uri("api/model.vae"))
    frame = pd.read_parquet(local / "new.parquet").drop(columns=["id", "label"])
    np.testing.assert_array_equal(again.score_samples(frame), det.score_samples(frame))
    np.testing.assert_array_equal(again.predict(frame), det.predict(frame))
    with pytest.raises(ModelFileError, match=f"model file {s3.uri('api/missing.vae')} does not exist"):
        VAEDetector.load(s3.uri("api/missing.vae"))
    with pytest.raises(ModelFileError, match="is a directory, not a model file"):
        VAEDetector.load(s3.uri("api"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        det.save("s3://no-such-bucket-here/m.vae")


def test_a_missing_bucket_and_a_directory_are_refused_in_one_line(s3, local):
    upload(s3, local / "model.vae", "m.vae")
    upload(s3, local / "new.parquet", "dir/new.parquet")
    missing = invoke("score", s3.uri("dir/new.parquet"), "-m", s3.uri("m.vae"),
                     "-o", "s3://no-such-bucket-here/out.parquet")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: output directory s3://no-such-bucket-here does not exist"
    directory = invoke("score", s3.uri("dir/new.parquet"), "-m", s3.uri("m.vae"), "-o", s3.uri("dir"))
    assert directory.exit_code == 1
    assert directory.stderr.strip() == f"error: output {s3.uri('dir')} is a directory"
    same = invoke("score", s3.uri("dir/new.parquet"), "-m", s3.uri("m.vae"), "-o", s3.uri("dir/new.parquet"))
    assert same.stderr.strip() == (f"error: output {s3.uri('dir/new.parquet')} is the input file; "
                                   "choose another output path")
    assert s3.keys() == ["dir/new.parquet", "m.vae"]


def test_a_staging_file_left_by_a_killed_upload_is_removed_by_the_next_run(s3, local, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(temporary.tempfile, "tempdir", None)
    upload(s3, local / "new.parquet", "new.parquet")
    upload(s3, local / "model.vae", "m.vae")
    left = temporary.temporary_beside(temporary.staging_base(s3.fs, s3.path("out.parquet")))
    left.write_bytes(b"half a table")
    os.utime(left, (time.time() - 60, time.time() - 60))  # older than the grace period
    other = temporary.temporary_beside(temporary.staging_base(s3.fs, s3.path("other.parquet")))
    os.utime(other, (time.time() - 60, time.time() - 60))  # another output's: not this run's business
    result = invoke("score", s3.uri("new.parquet"), "-m", s3.uri("m.vae"), "-o", s3.uri("out.parquet"))
    ok(result)
    assert notes(result) == [f"note: removed 1 temporary file left by an earlier run: {left.name}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]


def test_score_on_a_local_dask_cluster_reads_and_writes_s3(s3, local, monkeypatch, tmp_path):
    """Workers reach the store with the environment they inherit; parts equal single-process scores."""
    upload(s3, local / "new.parquet", "new.parquet")
    upload(s3, local / "model.vae", "m.vae")
    # A killed run's temporary prefix, and a user's folder with a name like it.
    put(s3, "scores/.out.0123abcd.tmp/part.00000.parquet", b"half a part")
    put(s3, "scores/.out.0123abcd.tmp.bak/part.00000.parquet", b"a user's")
    put(s3, "scores/out/part.00009.parquet", b"an earlier run's part that the new output has not")
    monkeypatch.setattr(temporary, "STORE_GRACE_S", 0.0)
    time.sleep(1.1)  # the store's clock counts whole seconds
    result = invoke("score", s3.uri("new.parquet"), "-m", s3.uri("m.vae"), "-o", s3.uri("scores/out"),
                    "--dask", "local", "--partition-rows", 100)
    ok(result)
    assert notes(result) == ["note: removed 1 temporary file left by an earlier run: .out.0123abcd.tmp"]
    parts = s3.keys("scores/out")
    assert parts == [f"scores/out/part.{i:05d}.parquet" for i in range(3)]
    assert s3.keys("scores/.out.0123abcd.tmp.bak") == ["scores/.out.0123abcd.tmp.bak/part.00000.parquet"]
    assert not s3.keys("scores/.out.0123abcd.tmp/")
    got = pd.concat([pq.read_table(s3.path(k), filesystem=s3.fs).to_pandas() for k in parts],
                    ignore_index=True)
    ok(invoke("score", local / "new.parquet", "-m", local / "model.vae", "-o", tmp_path / "want.parquet"))
    want = pd.read_parquet(tmp_path / "want.parquet")
    pd.testing.assert_frame_equal(got.assign(top_feature=got["top_feature"].astype(str)),
                                  want.assign(top_feature=want["top_feature"].astype(str)))
    assert not [k for k in s3.keys("scores") if ".tmp/" in k and ".bak" not in k]
