"""``vae-detect report`` and ``write_report``: sections, numbers equal to evaluate/info/score, errors.

Two tiny models are fitted once per module (a row model on a slice of the
tabular sample, a windowed one on a slice of the sensor sample) and each
report is built once and shared by the tests that read it.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vae_anomaly import VAEDetector

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from tests.helpers import SAMPLE, invoke  # noqa: E402
from vae_anomaly.report.run import report_file, write_report  # noqa: E402


class Page(HTMLParser):
    """What a test needs from a report: ids and their text, images, links, top rows, series, scripts."""

    def __init__(self, html: str):
        super().__init__()
        self.text: dict[str, str] = {}
        self.sections: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.top_rows: list[int] = []
        self.series: list[str] = []
        self.tags: set[str] = set()
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.sections.append(a["id"])
        if "src" in a:
            self.images.append(a["src"])
        if "href" in a:
            self.links.append(a["href"])
        if "data-row" in a:
            self.top_rows.append(int(a["data-row"]))
        if "data-series" in a:
            self.series.append(a["data-series"])
        if tag not in ("img", "meta", "br") and "id" in a and tag != "section":
            self._open.append(a["id"])
            self.text[a["id"]] = ""

    def handle_data(self, data):
        for key in self._open:
            self.text[key] += data

    def handle_endtag(self, tag):
        if self._open and tag in ("div", "span", "td", "p"):
            self._open.pop()


def decoded_png(src: str) -> bytes:
    assert src.startswith("data:image/png;base64,"), src[:40]
    data = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return data


# ------------------------------------------------------------------------------------------
# a row model, reported through the CLI
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tab(tmp_path_factory, one_torch_thread) -> dict:
    """Model fitted on 600 rows; data: the next 1,500 labelled rows; report, score, evaluate, info."""
    where = tmp_path_factory.mktemp("report")
    data = pd.read_parquet(SAMPLE / "tabular.parquet")
    train = data.iloc[:600].drop(columns=["id", "label"])
    VAEDetector(max_iter=3, random_state=0).fit(train).save(where / "model.vae")
    data.iloc[600:2100].reset_index(drop=True).to_parquet(where / "new.parquet", index=False)
    common = ["-m", where / "model.vae"]
    result = invoke("report", where / "new.parquet", *common, "-o", where / "report.html", "-l", "label",
                    "--top", 12, "--batch-size", 250, "--jobs", 2)
    assert result.exit_code == 0, result.output
    scored = invoke("score", where / "new.parquet", *common, "-o", where / "scores.parquet", "-q")
    evaluated = invoke("evaluate", where / "new.parquet", *common, "-l", "label", "--json")
    info = invoke("info", where / "model.vae", "--json")
    assert scored.exit_code == evaluated.exit_code == info.exit_code == 0
    html = (where / "report.html").read_text()
    return {"where": where, "stderr": result.stderr, "html": html, "page": Page(html),
            "scores": pd.read_parquet(where / "scores.parquet"), "evaluate": json.loads(evaluated.stdout),
            "info": json.loads(info.stdout)}


def test_report_has_every_section_each_with_a_real_image(tab):
    page = tab["page"]
    assert page.sections == ["summary", "scores", "top-rows", "columns", "latent", "training", "labels"]
    assert len(page.images) == 6  # histogram, contributions, columns, latent map, training, ROC/PR
    for src in page.images:
        assert len(decoded_png(src)) > 2000  # a drawn figure, not an empty canvas
    assert page.links == [f"#{s}" for s in page.sections]  # only in-page links: no external URL
    assert "script" not in page.tags and "link" not in page.tags
    assert "report of 1,500 rows" in tab["stderr"]


def test_summary_numbers_match_score_and_info(tab):
    text, info, scores = tab["page"].text, tab["info"], tab["scores"]
    assert text["rows"] == "1,500"
    assert text["flagged"] == f"{int(scores['is_anomaly'].sum()):,}"
    assert text["threshold"] == f"{info['threshold']:.6g}"
    assert text["n-calibration"] == f"{info['calibration']['n_calibration']:,}"
    assert text["epochs"] == str(info["training"]["epochs"])
    assert text["best-epoch"] == str(info["training"]["best_epoch"])


def test_label_figures_match_evaluate(tab):
    text, m = tab["page"].text, tab["evaluate"]
    for key in ("auc_roc", "auc_pr", "precision", "recall", "f1"):
        assert text[key.replace("_", "-")] == f"{m[key]:.4g}", key
    for key in ("tp", "fp", "tn", "fn"):
        assert text[key] == f"{m[key]:,}", key


def test_top_rows_are_the_highest_scores_of_the_whole_file_in_order(tab):
    # Streamed in batches of 250 rows on 2 threads; the list must equal a sort of all scores.
    scores = tab["scores"]["anomaly_score"].to_numpy()
    expected = np.lexsort((np.arange(scores.size), -scores))[:12]
    assert tab["page"].top_rows == expected.tolist()


def test_write_report_from_python_equals_the_streamed_cli_report(tab, tmp_path):
    # The CLI streamed 250-row batches on 2 threads; write_report scores all 1,500 rows in one batch.
    data = pd.read_parquet(tab["where"] / "new.parquet")
    det = VAEDetector.load(tab["where"] / "model.vae")
    out = write_report(det, data.drop(columns=["label"]), tmp_path / "py.html", labels=data["label"], top=12)
    page = Page((tmp_path / "py.html").read_text())
    assert out["sections"] == page.sections == tab["page"].sections
    assert out["output"] == str(tmp_path / "py.html") and out["rows"] == 1500
    assert page.text == tab["page"].text
    assert page.top_rows == tab["page"].top_rows
    assert page.images == tab["page"].images  # every figure, pixel for pixel


def test_report_of_a_million_rows_stays_small_and_shows_names_as_text(tab, tmp_path):
    # 1,000,000 rows: 1,500 labelled rows of four numeric columns, repeated. Summaries are bounded,
    # so the page is too. (Numeric columns keep the scoring part of the test quick.) Two columns
    # have names that are markup: they come from files, so they must stay text on the page.
    import pyarrow as pa
    import pyarrow.parquet as pq

    hostile = ['<script>alert("x")</script>', 'a"><img src=http://x.invalid/>']
    small = pd.read_parquet(tab["where"] / "new.parquet", columns=["temperature", "pressure", "flow_rate",
                                                                   "power_kw", "label"])
    small.columns = hostile + ["flow_rate", "power_kw", "label"]
    VAEDetector(max_iter=2, random_state=0).fit(small.drop(columns="label")).save(tmp_path / "numeric.vae")
    table = pa.Table.from_pandas(small, preserve_index=False)
    big = pa.concat_tables([table] * (1_000_000 // table.num_rows + 1)).slice(0, 1_000_000)
    pq.write_table(big, tmp_path / "big.parquet")
    out = report_file(tmp_path / "big.parquet", tmp_path / "numeric.vae", tmp_path / "big.html",
                      label_column="label", n_jobs=2)
    assert out["rows"] == 1_000_000
    html = (tmp_path / "big.html").read_text()
    assert len(html.encode()) == out["bytes"] < 5_000_000
    page = Page(html)
    assert page.text["rows"] == "1,000,000" and len(page.top_rows) == 50
    assert len({row % 1500 for row in page.top_rows}) == 1  # one row of the small file, once per copy
    assert "script" not in page.tags and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------
def assert_user_error(result, *leftovers: Path) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for path in leftovers:
        assert not path.exists(), path
        assert not list(path.parent.glob(f".{path.name}.*.tmp"))
    return lines[0]


def test_bad_inputs_give_one_error_line_and_no_file(tab, tmp_path):
    where = tab["where"]
    model, data, out = where / "model.vae", where / "new.parquet", tmp_path / "r.html"
    msg = assert_user_error(invoke("report", data, "-m", model, "-o", tmp_path / "nope" / "r.html"))
    assert "output directory" in msg and "does not exist" in msg
    nolabel = invoke("report", data, "-m", model, "-o", out, "-l", "nolabel")
    assert "'nolabel'" in assert_user_error(nolabel, out)
    missing = invoke("report", where / "nope.parquet", "-m", model, "-o", out)
    assert "does not exist" in assert_user_error(missing, out)
    assert "model file" in assert_user_error(invoke("report", data, "-m", where / "none.vae", "-o", out), out)
    # (a table of 0 rows is not an error: tests/robustness/test_empty_extracts.py)
    # A label that fails part way through the stream leaves an existing report untouched.
    frame = pd.read_parquet(data)
    frame.loc[1400, "label"] = 7
    frame.to_parquet(tmp_path / "bad.parquet", index=False)
    out.write_text("previous report")
    msg = assert_user_error(invoke("report", tmp_path / "bad.parquet", "-m", model, "-o", out, "-l", "label",
                                   "--batch-size", 500))
    assert "'label'" in msg and "7" in msg
    assert out.read_text() == "previous report"


def test_missing_extra_is_named(tab, tmp_path):
    # matplotlib made unimportable, and its distribution absent, in a fresh interpreter, as on an
    # install without [report]
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv = ['vae-detect'] + sys.argv[1:]; "
            "import vae_anomaly.jobs.extras as e; v = e.installed_version; "
            "e.installed_version = lambda n: None if n == 'matplotlib' else v(n); "
            "from vae_anomaly.cli.app import main; main()")
    out = tmp_path / "r.html"
    result = subprocess.run([sys.executable, "-c", code, "report", str(tab["where"] / "new.parquet"), "-m",
                             str(tab["where"] / "model.vae"), "-o", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the report needs the report extra (matplotlib is not installed): "
        "pip install 'vae-anomaly[report]'"]
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# a windowed model: series strips
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sensors(tmp_path_factory, one_torch_thread) -> dict:
    """Windowed model on 300 minutes of the 4 machines; report of the next 200, M2 with a 20-minute gap."""
    where = tmp_path_factory.mktemp("report_sensors")
    data = pd.read_parquet(SAMPLE / "sensors.parquet")
    minute = (data["timestamp"] - data["timestamp"].min()) // pd.Timedelta("1min")
    train, new = data[minute < 300], data[(minute >= 300) & (minute < 500)]
    gap = (data["machine"] == "M2") & (minute >= 380) & (minute < 400)
    new = new[~gap[new.index]].reset_index(drop=True)
    det = VAEDetector(window=8, time_column="timestamp", group_column="machine", max_iter=3, random_state=0)
    det.fit(train.drop(columns="label"))
    new.to_parquet(where / "new.parquet", index=False)
    det.save(where / "model.vae")
    out = report_file(where / "new.parquet", where / "model.vae", where / "report.html", top=10,
                      batch_size=160)
    details = det.score_details(new.drop(columns="label"))
    return {"where": where, "out": out, "page": Page((where / "report.html").read_text()), "new": new,
            "details": details}


def test_windowed_report_shows_series_most_anomalous_first(sensors):
    page, new, details = sensors["page"], sensors["new"], sensors["details"]
    assert page.sections == ["summary", "scores", "top-rows", "columns", "series", "latent", "training"]
    flagged = pd.Series(details.is_anomaly).groupby(new["machine"]).sum()
    top = pd.Series(details.anomaly_score).groupby(new["machine"]).max()
    order = sorted(flagged.index, key=lambda m: (-flagged[m], -top[m]))
    assert page.series == order
    # Streamed in batches of 160 rows (window context carried between them): same top rows.
    scores = details.anomaly_score
    assert page.top_rows == np.lexsort((np.arange(scores.size), -scores))[:10].tolist()


def test_strips_are_bounded_and_mark_the_time_gap(sensors):
    page = sensors["page"]
    strips = {k: v for k, v in page.text.items() if k.startswith("strip-")}
    assert len(strips) == 4  # one per machine, at most MAX_SERIES
    position = page.series.index("M2") + 1
    assert "1 longest time gap(s) shaded" in strips[f"strip-{position}"]
    assert sum("gap" in text for text in strips.values()) == 1
    for text in strips.values():
        # buckets x (min, max per channel + score)
        assert int(text.split()[0].replace(",", "")) <= 400 * (2 * 3 + 1)


def test_series_without_a_time_column_are_drawn_by_position(tmp_path, one_torch_thread):
    # No time column: a strip's x is the row's position in its own series, counted across batches.
    from vae_anomaly.jobs.score import load_scorer
    from vae_anomaly.jobs.stream import model_columns
    from vae_anomaly.report.scan import numbered, scan_series, scan_table
    from vae_anomaly.tables.read import TableReader

    data = pd.read_parquet(SAMPLE / "sensors.parquet").iloc[:800].drop(columns=["timestamp", "label"])
    VAEDetector(window=4, group_column="machine", max_iter=1,
                random_state=0).fit(data).save(tmp_path / "m.vae")
    data.to_parquet(tmp_path / "d.parquet", index=False)
    scorer, reader = load_scorer(tmp_path / "m.vae"), TableReader(tmp_path / "d.parquet")
    names = model_columns(scorer)

    def batches():
        return numbered(reader.iter_batches(96, names))

    scan = scan_table(scorer, batches, names, None, "", 5)
    scan_series(scorer, scan, batches, names)
    assert sorted(scan.strips) == ["M1", "M2", "M3", "M4"]
    for strip in scan.strips.values():  # 200 rows per machine, 400 buckets: every row kept, in order
        assert strip.points()["x"].tolist() == list(range(200))


def test_score_histogram_counts_every_row_and_turns_logarithmic_for_far_tails():
    from vae_anomaly.report import plot
    from vae_anomaly.report.summaries import ScoreHistogram

    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(20, 3, 10_000), [150.0, 4e3, 2e6]])
    hist = ScoreHistogram(20.0, 5.0)
    for part in np.array_split(scores, 7):
        hist.add(part)
    assert (hist.min, hist.max, hist.total) == (scores.min(), 2e6, scores.size)
    for linear in (False, True):
        edges, counts = hist.bars(80, linear=linear)
        assert counts.sum() == scores.size and edges[0] <= scores.min() and edges[-1] >= 2e6
    wide = plot.score_histogram(histogram=hist, threshold=30.0)
    narrow = plot.score_histogram(scores[:10_000], threshold=30.0)
    assert "logarithmic" in wide.axes[0].get_xlabel()
    assert narrow.axes[0].get_xlabel() == "anomaly score"


def test_plot_helpers_return_figures_for_notebooks(sensors):
    from matplotlib.figure import Figure

    from vae_anomaly.report import plot

    details = sensors["details"]
    fig = plot.score_histogram(details.anomaly_score, threshold=1.0,
                               calibration_scores=details.anomaly_score[:50])
    assert isinstance(fig, Figure) and fig.axes[0].get_xlabel().startswith("anomaly score")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG")
    m1 = sensors["new"][sensors["new"]["machine"] == "M1"].assign(score=details.anomaly_score[
        (sensors["new"]["machine"] == "M1").to_numpy()])
    fig = plot.series_with_flags(m1, ["temperature", "rpm"], x="timestamp", score="score", threshold=50.0)
    assert len(fig.axes) == 3
    contrib = pd.DataFrame(details.contributions[:5], columns=details.feature_names)
    assert len(plot.contributions(contrib.iloc[0]).axes) == 1
    assert len(plot.training_curves([3.0, 2.0, 1.5], [3.2, 2.4, 2.0], best_epoch=3).axes[0].lines) == 3


# ------------------------------------------------------------------------------------------
# in a real browser
# ------------------------------------------------------------------------------------------
def _screenshot_module():
    import importlib.util

    from tests.helpers import ROOT

    spec = importlib.util.spec_from_file_location("make_report_screenshot",
                                                  ROOT / "docs" / "make_report_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for (the browser's own update and sign-in checks are left out)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    params = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    return [p["url"] for p in params if "url" in p and p.get("initiator") != "not an origin"]


def test_report_renders_in_headless_chromium_without_network(tab, tmp_path):
    shots = _screenshot_module()
    if shots.chromium() is None:
        pytest.skip("chromium is not installed (.ci/setup installs the Debian package when run as root)")
    from PIL import Image

    # The check can fail: a page with an external image is caught.
    canary = tmp_path / "canary.html"
    canary.write_text('<html><body><h1>x</h1><img src="http://example.invalid/a.png"></body></html>')
    shots.render_png(canary, tmp_path / "canary.png", 400, 300, netlog=tmp_path / "canary.json")
    assert _page_requests(tmp_path / "canary.json") == ["http://example.invalid/a.png"]

    shots.render_png(tab["where"] / "report.html", tmp_path / "report.png", 1100, 2400,
                     netlog=tmp_path / "net.json")
    assert _page_requests(tmp_path / "net.json") == []
    with Image.open(tmp_path / "report.png") as im:
        assert im.size == (1100, 2400)
        grey = np.asarray(im.convert("L"), dtype=np.float64)
    assert grey.std() > 20  # text and figures, not a blank page
    inked = (grey < 200).mean(axis=1)
    assert (inked > 0).mean() > 0.5  # ink on more than half of the rows of pixels: the figures loaded
