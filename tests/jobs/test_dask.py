"""Scoring on a real Dask cluster (a ``distributed.LocalCluster`` of 2 worker processes).

One cluster and two tiny models serve the whole module. The data are split
into several Parquet files with small row groups, shuffled, so each machine's
rows straddle files and partitions in no particular order.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import distributed
import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT, invoke
from vae_anomaly import VAEDetector  # the dask extra is part of the dev extra, which CI installs
from vae_anomaly.jobs import cluster as dask_job
from vae_anomaly.jobs.dask import read_parquet, score_dask
from vae_anomaly.jobs.score import load_scorer
from vae_anomaly.tables.read import TableReader

SAMPLE = ROOT / "sample_data"
RESULTS = ["anomaly_score", "is_anomaly", "p_value", "top_feature"]

@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, \
            distributed.Client(lc, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def data(tmp_path_factory, one_torch_thread) -> dict:
    """Row-wise and windowed models, their input directories and the whole tables in input order."""
    where = tmp_path_factory.mktemp("dask")
    tab = pd.read_parquet(SAMPLE / "tabular.parquet")
    sensors = pd.read_parquet(SAMPLE / "sensors.parquet").iloc[:6000]
    # Ties in time: M2 reads twice a minute, so window contents depend on the input order of tied rows.
    m2 = sensors["machine"] == "M2"
    sensors.loc[m2, "timestamp"] = sensors.loc[m2, "timestamp"].dt.floor("2min")
    sensors = sensors.sample(frac=1.0, random_state=0).reset_index(drop=True).assign(rid=np.arange(6000))
    rows = VAEDetector(max_iter=2, random_state=0).fit(tab.drop(columns=["id", "label"]).iloc[:1000])
    windowed = VAEDetector(window=4, time_column="timestamp", group_column="machine", max_iter=2,
                           random_state=0).fit(sensors.drop(columns=["label", "rid"]).iloc[:2000])
    rows.save(where / "rows.vae")
    windowed.save(where / "windowed.vae")
    for name, frame, n_files in (("tab", tab, 3), ("sensors", sensors, 5)):
        (where / name).mkdir()
        for i, part in enumerate(np.array_split(np.arange(len(frame)), n_files)):
            frame.iloc[part].to_parquet(where / name / f"f{i}.parquet", index=False, row_group_size=400)
    return {"where": where, "tab": tab, "sensors": sensors, "rows": rows, "windowed": windowed}


def parts_in_name_order(directory: Path) -> pd.DataFrame:
    files = sorted(directory.glob("*.parquet"))
    assert files and all(dask_job.PART_FILE.fullmatch(f.name) for f in files)
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def assert_same_results(got: pd.DataFrame, want) -> None:
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), want.anomaly_score)
    np.testing.assert_array_equal(got["p_value"].to_numpy(), want.p_value)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want.is_anomaly)
    np.testing.assert_array_equal(got["top_feature"].astype(str).to_numpy(), want.top_feature().astype(str))


def assert_nothing_left(out: Path) -> None:
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_row_wise_scores_and_order_equal_the_single_process_cli(data, cluster):
    where = data["where"]
    single, out = where / "single.parquet", where / "tab.scores"
    assert invoke("score", where / "tab", "-m", where / "rows.vae", "-o", single, "-q").exit_code == 0
    result = invoke("score", where / "tab", "-m", where / "rows.vae", "-o", out, "--dask",
                    cluster.scheduler.address, "--partition-rows", 700)
    assert result.exit_code == 0, result.output
    assert "scored 5,000 rows" in result.stderr
    got, want = parts_in_name_order(out), pd.read_parquet(single)
    assert len(list(out.iterdir())) == 9  # 3 files of 4 row groups of 400 rows or fewer, 2 groups a part
    pd.testing.assert_frame_equal(got, want)  # same rows, same order, same values to the bit
    assert_same_results(got, load_scorer(where / "rows.vae").score_details(data["tab"]))
    labelled = invoke("evaluate", out, "-m", where / "rows.vae", "-l", "label", "--json")
    assert labelled.stdout == invoke("evaluate", where / "tab", "-m", where / "rows.vae", "-l", "label",
                                     "--json").stdout
    again = invoke("score", where / "tab", "-m", where / "rows.vae", "-o", out, "--dask",
                   cluster.scheduler.address,
                   "--columns-out", "id", "-q")
    assert again.exit_code == 0, again.output  # an earlier output directory is replaced whole
    assert parts_in_name_order(out).columns.tolist() == ["id", *RESULTS]
    assert not [p for p in where.iterdir() if p.name.startswith(".")]


def test_windowed_scores_equal_scoring_the_whole_table_at_once(data, cluster):
    where, sensors = data["where"], data["sensors"]
    want = data["windowed"].score_details(sensors.drop(columns=["label", "rid"]))
    got = score_dask(read_parquet(where / "sensors", partition_rows=500), where / "windowed.vae").compute()
    assert len(got) == len(sensors) and got["rid"].is_unique
    got = got.set_index("rid").loc[sensors["rid"]]
    assert_same_results(got, want)
    np.testing.assert_array_equal(got["window_fill"].to_numpy(), want.window_fill)
    # The CLI on one machine needs each series in time order from batch to batch: one batch here.
    whole, out = where / "sensors_whole.parquet", where / "sensors.scores"
    sensors.to_parquet(whole, index=False)
    one = invoke("score", whole, "-m", where / "windowed.vae", "-o", where / "single.parquet",
                 "--batch-size", 10_000)
    many = invoke("score", where / "sensors", "-m", where / "windowed.vae", "-o", out, "--dask",
                  cluster.scheduler.address, "--partition-rows", 500)
    assert one.exit_code == 0 and many.exit_code == 0, many.output
    gaps = [line for line in many.stderr.splitlines() if line.startswith("warning:")]
    assert gaps and gaps == [line for line in one.stderr.splitlines() if line.startswith("warning:")]
    parts = [pd.read_parquet(f) for f in sorted(out.iterdir())]
    for part in parts:  # each series whole in one part file, in time order
        assert part["machine"].is_monotonic_increasing
        assert all(s["timestamp"].is_monotonic_increasing for _, s in part.groupby("machine"))
    machines = sorted(m for part in parts for m in part["machine"].unique())
    assert machines == sorted(sensors["machine"].unique())


def test_model_enters_the_graph_once_and_reaches_each_worker_once(data, cluster):
    where, tab = data["where"], data["tab"]
    ddf = read_parquet(where / "tab", partition_rows=400)
    assert ddf.npartitions == 15
    cluster.run(lambda dask_worker: dask_worker.transfer_incoming_log.clear())
    scored = score_dask(ddf, data["rows"])  # the fitted estimator itself
    assert scored.dtypes.to_dict() == scored._meta.dtypes.to_dict()
    graph = dict(scored.__dask_graph__())
    shipped = [k for k in graph if str(k[0] if isinstance(k, tuple) else k).startswith("vae-scorer-")]
    assert len(shipped) == 1
    got = cluster.compute(scored).result()
    transfers = cluster.run(
        lambda dask_worker: [k for t in dask_worker.transfer_incoming_log for k in t["keys"]])
    received = [k for keys in transfers.values() for k in keys if "vae-scorer-" in str(k)]
    assert len(received) <= 1  # made on one worker, fetched once by the other
    assert_same_results(got, load_scorer(where / "rows.vae").score_details(tab))
    assert got.dtypes.equals(scored._meta.dtypes)


def _bad(where: Path) -> dict:
    tab = pd.read_parquet(where / "tab" / "f0.parquet")
    tab.drop(columns="pressure").to_parquet(where / "no_pressure.parquet", index=False)
    tab.to_csv(where / "tab.csv", index=False)
    tab.assign(anomaly_score=1.0).to_parquet(where / "clash.parquet", index=False)
    for name, bad in (("infinite", np.inf), ("text", "high")):  # found by a worker, in the second file
        (where / name).mkdir(exist_ok=True)
        tab.to_parquet(where / name / "a.parquet", index=False)
        tab.assign(pressure=bad).to_parquet(where / name / "b.parquet", index=False)
    (where / "notes").mkdir(exist_ok=True)
    (where / "notes" / "readme.txt").write_text("not scores")
    return {
        "missing_column": (where / "no_pressure.parquet", "rows.vae", [],
                           "error: column 'pressure' is missing (it was present at fit time)"),
        "csv": (where / "tab.csv", "rows.vae", [], "error: tab.csv is not Parquet"),
        "column_clash": (where / "clash.parquet", "rows.vae", [],
                         "error: the input already has a column 'anomaly_score', which scoring adds"),
        "infinite": (where / "infinite", "rows.vae", [], "error: column 'pressure' "),
        # refused before any worker starts: the files' types for 'pressure' cannot be unified
        "text": (where / "text", "rows.vae", [], "error: cannot read "),
        "foreign_output": (where / "tab", "rows.vae", ["-o", where / "notes"], "error: output "),
    }


@pytest.mark.parametrize("case",
                         ["missing_column", "csv", "column_clash", "infinite", "text", "foreign_output"])
def test_bad_input_is_one_line_and_exit_1(data, cluster, case):
    where = data["where"]
    path, model, extra, message = _bad(where)[case]
    out = where / f"{case}.scores"
    args = ["-o", out, *extra] if "-o" not in extra else extra
    result = invoke("score", path, "-m", where / model, "--dask", cluster.scheduler.address, *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    if case == "text":
        assert "column 'pressure'" in lines[0] and "b.parquet" in lines[0], lines[0]
    if "-o" in extra:
        assert (where / "notes" / "readme.txt").read_text() == "not scores"
    else:
        assert_nothing_left(out)


def test_without_the_extra_dask_is_one_line_naming_it(data, monkeypatch):
    import vae_anomaly.jobs
    import vae_anomaly.jobs.extras

    for name in ("dask", "dask.dataframe", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: no module ...
    installed = vae_anomaly.jobs.extras.installed_version  # ... and no distribution
    monkeypatch.setattr(vae_anomaly.jobs.extras, "installed_version",
                        lambda name: None if name in ("dask", "distributed") else installed(name))
    for package, name in ((vae_anomaly.jobs, "dask"), (vae_anomaly.jobs, "cluster")):
        monkeypatch.delitem(sys.modules, f"{package.__name__}.{name}")
        monkeypatch.delattr(package, name)
    out = data["where"] / "no_extra.scores"
    result = invoke("score", data["where"] / "tab", "-m", data["where"] / "rows.vae", "-o", out, "--dask",
                    "local")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "error: scoring with Dask needs the dask extra (dask is not installed): "
        "pip install 'vae-anomaly[dask]'"]
    assert_nothing_left(out)


def test_an_unreachable_scheduler_is_one_line(data):
    with pytest.raises(dask_job.ClusterError, match="cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'"):
        with dask_job.connect("tcp://127.0.0.1:9", timeout=1):
            pass


@pytest.mark.parametrize("model, source", [("rows.vae", "tab"), ("windowed.vae", "sensors")])
def test_a_worker_killed_mid_run_gives_the_full_result_or_no_output(data, cluster, model, source):
    """Last in the module: the killed worker's nanny restarts it, but later tests need not wait for that."""
    where = data["where"]
    table = data[source].drop(columns=["label", "rid", "id"], errors="ignore")
    pids = list(cluster.run(os.getpid).values())
    out = where / f"killed_{source}.scores"
    seen = []

    def kill_a_worker(rows: int) -> None:  # once the first partition is written
        seen.append(rows)
        if len(seen) == 1 and pids:
            os.kill(pids[0], signal.SIGKILL)

    try:
        summary = dask_job.score_on_cluster(load_scorer(where / model), TableReader(where / source), out,
                                            address=cluster.scheduler.address, partition_rows=300,
                                            on_rows=kill_a_worker)
    except dask_job.ClusterError:
        assert_nothing_left(out)
    else:
        assert summary["rows"] == len(table) and summary["partitions"] > 1
        got = parts_in_name_order(out)
        if source == "sensors":
            got = got.set_index("rid").loc[data["sensors"]["rid"]]
        assert_same_results(got, load_scorer(where / model).score_details(table))
