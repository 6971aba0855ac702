"""``vae-detect``: fit, score, evaluate, describe and report on anomaly detectors on table files.

Each command parses its options, calls one job with the paths it was given
(a function of :mod:`vae_anomaly.jobs`, or
:func:`vae_anomaly.report.run.report_file`), and renders the result:
messages and progress to stderr, data to stdout or the output file.
Choices, defaults and checks come from
:mod:`vae_anomaly.options` (which imports nothing heavy); the rest of the
library is imported inside the commands so ``--help`` stays quick.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vae_anomaly import options

from . import render
from .boundary import progress, reuse_freed_memory, terminate_gracefully, to_json, user_errors

app = typer.Typer(
    name="vae-detect",
    help="Anomaly detection on tables (Parquet, CSV, Arrow) with a variational autoencoder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# The library's choices, as the enums Typer shows in --help.
WindowFeatures = Enum("WindowFeatures", {v: v for v in options.WINDOW_FEATURES}, type=str)
Likelihood = Enum("Likelihood", {v.replace("-", "_"): v for v in options.LIKELIHOODS}, type=str)
ThresholdMethod = Enum("ThresholdMethod", {v: v for v in options.THRESHOLD_METHODS}, type=str)
DEFAULT_WINDOW_FEATURES = WindowFeatures(options.WINDOW_FEATURES[0])
DEFAULT_LIKELIHOOD = Likelihood(options.LIKELIHOODS[0])
CovarianceType = Enum("CovarianceType", {v: v for v in options.COVARIANCE_TYPES}, type=str)
DEFAULT_COVARIANCE_TYPE = CovarianceType(options.COVARIANCE_TYPES[0])
DEFAULT_THRESHOLD_METHOD = ThresholdMethod(options.THRESHOLD_METHODS[0])

#: Exit code of ``score --fail-on-drift`` when drift is detected (errors exit 1, usage 2).
EXIT_DRIFT = 3

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")  # as vae_anomaly.tables.location.is_uri, without pyarrow


def _location(value: str | os.PathLike) -> Path | str:
    """A path argument as the jobs take it: a ``Path``, or a URI as written (``Path`` collapses ``//``)."""
    text = os.fspath(value)
    return text if isinstance(text, str) and _URI.match(text) else Path(text)


# Paths are typed str, so Typer never makes a Path of a URI; _location turns local ones into Paths.
Data = Annotated[str, typer.Argument(
    help="A .parquet, .csv or .arrow/.feather file, or a directory of .parquet files; a local path or a "
         "URI (s3://, gs://, abfs://, hdfs://, file://).",
    show_default=False, parser=_location)]
Model = Annotated[str, typer.Option("--model", "-m", help="Model file (a local path or a URI).",
                                    parser=_location)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors and data.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1,
                                        help="Rows per record batch; bounds memory, not results.")]
Device = Annotated[str, typer.Option("--device", help="Torch device for scoring: cpu, cuda, cuda:0.")]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


Jobs = Annotated[int, typer.Option(
    "--jobs", "-j", min=1, show_default="CPUs, at most 4",
    help="Record batches scored in parallel; results do not depend on it.")]
DEFAULT_JOBS = min(4, _cpus())


def _notes(summary: dict, quiet: bool) -> None:
    """Print what the reader noticed (paths skipped, types changed, columns missing) unless quiet."""
    if not quiet:
        for line in render.note_lines(summary):
            typer.echo(line, err=True)


def _checked(check):
    """A Typer callback that runs one of the library's checks and reports its error as a usage error."""
    def callback(value):
        try:
            check(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return value
    return callback


FIT_EXAMPLES = """Examples:

vae-detect fit history.parquet -m model.vae --exclude label

vae-detect fit orders.parquet -m model.vae --exclude label --include item_count

vae-detect fit history.parquet -m model.vae --label-column confirmed_fraud

vae-detect fit history.parquet -m model.vae -x label --labels review.csv    (verdicts: key, label)

vae-detect fit history.csv --epochs 50 --contamination 0.02 --seed 0 --json > fit.json

vae-detect fit sensors.parquet --window 8 --time-column timestamp --group-column machine -x label
"""


@app.command(epilog=FIT_EXAMPLES)
def fit(
    data: Data,
    model: Model = "model.vae",
    columns: Annotated[list[str] | None, typer.Option(
        "--columns", "-c", help="Use only this column (repeat for more).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-x", help="Leave this column out, e.g. a label (repeat for more).")] = None,
    include: Annotated[list[str] | None, typer.Option(
        "--include", help="Keep this column as a feature even where it looks like an identifier (repeat "
                          "for more).")] = None,
    label_column: Annotated[str | None, typer.Option(
        "--label-column", show_default=False,
        help="Column of known anomalies: 1 (or true) for an anomaly, 0 (false) or empty otherwise. Not a "
             "feature; the rows it marks are left out of training and calibration (see also "
             "--label-weight).")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", show_default=False, parser=_location,
        help="Verdicts file (CSV, Parquet): a key column and 'label', 1 for an anomaly, 0 for a normal "
             "row, empty for one not reviewed (report --review writes one to fill in). The rows of the "
             "anomalies are left out of training and calibration, as with --label-column.")] = None,
    key: Annotated[str | None, typer.Option(
        "--key", show_default=False,
        help="With --labels: the key column of the verdicts, a column of the data (not a feature), or "
             "row_key (a hash of the model's columns). Default: row_key if the file has it, else its one "
             "column that the data also hold.")] = None,
    label_weight: Annotated[float, typer.Option(
        "--label-weight", min=0.0,
        help="With --label-column or --labels: weight of a training term that pushes the known "
             "anomalies' scores up, so rows like them score high (label_weight; try 1 when they repeat "
             "one form). 0: they are only kept out of training and calibration.")] = 0.0,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", min=1, help="Maximum training epochs (max_iter); default: automatic.")] = None,
    latent_dim: Annotated[int | None, typer.Option(
        "--latent-dim", min=1, help="Size of the latent space; default: from the column count.")] = None,
    likelihood: Annotated[Likelihood, typer.Option(
        "--likelihood",
        help="Noise model of numeric columns: gaussian, or heavy-tailed student-t (for training data "
             "that hold anomalies).")] = DEFAULT_LIKELIHOOD,
    covariance_type: Annotated[CovarianceType, typer.Option(
        "--covariance-type",
        help="Residuals of numeric columns in the score (gaussian): independent (diag), or with their "
             "covariance fitted after training (full), for anomalies that break relations between "
             "columns.")] = DEFAULT_COVARIANCE_TYPE,
    contamination: Annotated[str, typer.Option(
        "--contamination", callback=_checked(options.check_contamination),
        help="'auto' (threshold from --target-fpr) or the expected share of anomalies: that share "
             "of the training rows is flagged.")] = "auto",
    target_fpr: Annotated[float, typer.Option(
        "--target-fpr", callback=_checked(options.check_target_fpr),
        help="False-positive rate on normal rows, with --contamination auto.")] = options.TARGET_FPR,
    threshold_method: Annotated[ThresholdMethod, typer.Option(
        "--threshold-method",
        help="How the threshold is set from the held-out rows: conformal, a tail fitted to their top "
             "scores (for rare rates), or auto (the tail only where conformal is unsteady).")
    ] = DEFAULT_THRESHOLD_METHOD,
    seed: Annotated[int, typer.Option(
        "--seed", help="Random seed (random_state): the same data and seed give the same model on CPU.")] = 0,
    window: Annotated[int | None, typer.Option(
        "--window", min=1, help="Score sliding windows of this many rows instead of single rows.")] = None,
    window_features: Annotated[WindowFeatures, typer.Option(
        "--window-features",
        help="With --window: per-channel window statistics (summary) or the whole window (stack).")
    ] = DEFAULT_WINDOW_FEATURES,
    time_column: Annotated[str | None, typer.Option(
        "--time-column", help="With --window: the column that orders rows in a series.")] = None,
    group_column: Annotated[str | None, typer.Option(
        "--group-column", help="With --window: the column naming each series (machine, device).")] = None,
    device: Annotated[str, typer.Option("--device", help="Torch device: auto, cpu, cuda, cuda:0.")] = "auto",
    json_out: JsonOut = False,
    quiet: Quiet = False,
) -> None:
    """Fit a detector on a table and save it to a model file.

    The table is read whole. Columns the model cannot use (dates,
    all-missing columns) and columns that look like identifiers (integers
    distinct in every row, values that only rise with the rows, id-like
    text) are left out and listed with the reason; --include keeps one.
    Rows that --label-column marks as known anomalies, and those a verdicts
    file (--labels) calls anomalies, are left out of training and of the
    held-out rows that set the threshold. The model
    file is written atomically: a failed fit never leaves half a file.
    """
    import sys

    if (time_column or group_column) and not window:
        raise typer.BadParameter("--time-column and --group-column need --window")
    params = {
        "max_iter": "auto" if epochs is None else epochs,
        "latent_dim": latent_dim,
        "likelihood": likelihood.value,
        "covariance_type": covariance_type.value,
        "contamination": contamination if contamination == "auto" else float(contamination),
        "target_fpr": target_fpr,
        "threshold_method": threshold_method.value,
        "label_weight": label_weight,
        "random_state": seed,
        **({"window": window, "time_column": time_column, "group_column": group_column,
            "window_features": window_features.value} if window else {}),
        "device": device,
        "verbose": not quiet and sys.stderr.isatty(),
    }
    with user_errors():
        from vae_anomaly.jobs.fit import fit_file

        summary = fit_file(data, model, columns=columns or (), exclude=exclude or (), include=include or (),
                           params=params, label_column=label_column, labels=labels, key=key)
    _notes(summary, quiet)
    if not quiet:
        typer.echo(render.fit_text(summary), err=True)
    if json_out:
        typer.echo(to_json(summary))


SCORE_EXAMPLES = """Examples:

vae-detect score today.parquet -m model.vae    (writes today.scores.parquet)

vae-detect score landing/ -m model.vae -o scores/today.parquet --columns-out id

vae-detect score today.csv -m model.vae -o - --quiet | head

vae-detect score landing/ -m model.vae -o scores/ --dask tcp://scheduler:8786

vae-detect score today.parquet -m model.vae --json --fail-on-drift > summary.json

vae-detect score today.parquet -m model.vae --row-key    (adds row_key, the key of verdicts)
"""


@app.command(epilog=SCORE_EXAMPLES)
def score(
    data: Data,
    model: Model = "model.vae",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", show_default=False,
        help="Output .parquet, .csv or .arrow file, or - for CSV on stdout. "
             "Default: DATA with .scores.parquet as its suffix.")] = None,
    columns_out: Annotated[list[str] | None, typer.Option(
        "--columns-out", help="Copy only this input column to the output (repeat for more).")] = None,
    batch_size: BatchSize = options.DEFAULT_BATCH_ROWS,
    jobs: Jobs = DEFAULT_JOBS,
    device: Device = "cpu",
    gap_tolerance: Annotated[float, typer.Option(
        "--gap-tolerance", callback=_checked(options.check_gap_tolerance),
        help="Windowed models: warn about steps between rows of a series longer than this many "
             "fitted time steps.")] = options.GAP_TOLERANCE,
    dask: Annotated[str | None, typer.Option(
        "--dask", metavar="ADDRESS", show_default=False,
        help="Score Parquet on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'. "
             "The output is a directory of Parquet part files. Needs vae-anomaly[dask].")] = None,
    partition_rows: Annotated[int, typer.Option(
        "--partition-rows", min=1,
        help="With --dask: rows per partition (whole row groups).")] = options.DEFAULT_PARTITION_ROWS,
    key: Annotated[str | None, typer.Option(
        "--key", show_default=False,
        help="A column naming the rows (an order id), for verdicts on them: always copied to the output, "
             "and read from CSV as text.")] = None,
    row_key: Annotated[bool, typer.Option(
        "--row-key",
        help="Add row_key, a hash of each row's values in the model's columns: the key of verdicts "
             "where no column names the rows. Costs time on every row.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json",
        help="Print the summary, with the drift check, as JSON on stdout (not with -o -).")] = False,
    fail_on_drift: Annotated[bool, typer.Option(
        "--fail-on-drift",
        help=f"Exit with code {EXIT_DRIFT} when the table no longer looks like the training data "
             "(after the output is written).")] = False,
    quiet: Quiet = False,
) -> None:
    """Score every row of a table and write the input columns plus the results.

    Adds anomaly_score (higher = more anomalous), is_anomaly, p_value and
    top_feature. The input is streamed in record batches, so memory stays
    bounded; the output appears only once it is complete. The whole table is
    also checked for drift against the model's held-out rows (flagged share,
    score distribution, each column's contributions): one line on stderr
    when drift is detected.
    """
    if dask is not None:
        if key is not None or row_key:
            raise typer.BadParameter("--key and --row-key are not available with --dask", param_hint="--dask")
        if json_out or fail_on_drift:
            raise typer.BadParameter("--json and --fail-on-drift are not available with --dask: the drift "
                                     "check runs in single-process scoring", param_hint="--dask")
        _score_on_cluster(data, model, output, dask, columns_out, partition_rows, device, gap_tolerance,
                          quiet)
        return
    if json_out and output == "-":
        raise typer.BadParameter("--json prints to stdout, where -o - writes the scores; "
                                 "write the scores to a file", param_hint="--json")
    reuse_freed_memory()
    with user_errors(), progress(quiet, "scoring") as bar:
        from vae_anomaly.jobs.score import score_file

        summary = score_file(data, model, None if output in (None, "-") else output,
                             stream=typer.get_binary_stream("stdout") if output == "-" else None,
                             columns_out=columns_out or None, batch_size=batch_size, n_jobs=jobs,
                             device=device, gap_tolerance=gap_tolerance, progress=bar, key=key,
                             row_key=row_key)
    drifted = summary["drift"]["detected"]
    _notes(summary, quiet)
    if not quiet:
        typer.echo(render.score_text(summary), err=True)
    if drifted and not json_out and (not quiet or fail_on_drift):
        typer.echo(render.drift_line(summary["drift"]), err=True)
    if json_out:
        typer.echo(to_json(summary))
    if drifted and fail_on_drift:
        raise typer.Exit(code=EXIT_DRIFT)


def _score_on_cluster(data: Path | str, model: Path | str, output: str | None, address: str,
                      columns_out: list[str] | None, partition_rows: int, device: str, gap_tolerance: float,
                      quiet: bool) -> None:
    """``score --dask``: the same results, written as a directory of part files by a Dask cluster."""
    if output == "-":
        raise typer.BadParameter("--dask writes a directory of Parquet part files, not stdout",
                                 param_hint="'-o'")
    if device != "cpu":
        raise typer.BadParameter("--dask scores on the workers' CPUs", param_hint="'--device'")
    with user_errors(), progress(quiet, "scoring") as bar:
        from vae_anomaly.jobs.cluster import score_file_on_cluster

        summary = score_file_on_cluster(data, model, output, address=address, columns_out=columns_out or None,
                                        partition_rows=partition_rows, gap_tolerance=gap_tolerance,
                                        progress=bar)
    _notes(summary, quiet)
    if not quiet:
        typer.echo(render.score_text(summary), err=True)


EVALUATE_EXAMPLES = """Examples:

vae-detect evaluate test.parquet -m model.vae --label-column label

vae-detect evaluate test.parquet -m model.vae -l is_fraud --json | jq .auc_pr
"""


@app.command(epilog=EVALUATE_EXAMPLES)
def evaluate(
    data: Data,
    label_column: Annotated[str, typer.Option(
        "--label-column", "-l", show_default=False,
        help="Column holding the truth: 1/true for anomalies, 0/false for normal rows.")],
    model: Model = "model.vae",
    batch_size: BatchSize = options.DEFAULT_BATCH_ROWS,
    jobs: Jobs = DEFAULT_JOBS,
    device: Device = "cpu",
    json_out: JsonOut = False,
    quiet: Quiet = False,
) -> None:
    """Compare a model's scores and flags with known labels.

    Prints AUC-ROC, AUC-PR (average precision), and precision, recall, F1
    and the confusion counts at the model's threshold.
    """
    reuse_freed_memory()
    with user_errors(), progress(quiet, "evaluating") as bar:
        from vae_anomaly.jobs.evaluate import evaluate_file

        metrics = evaluate_file(data, model, label_column, batch_size=batch_size, n_jobs=jobs, device=device,
                                progress=bar)
    _notes(metrics, quiet)
    typer.echo(to_json(metrics) if json_out else render.evaluate_text(metrics))


REPORT_EXAMPLES = """Examples:

vae-detect report today.parquet -m model.vae    (writes today.report.html)

vae-detect report labelled.parquet -m model.vae -o check.html --label-column label --top 20

vae-detect report today.parquet -m model.vae --top 20 --review review.csv    (then: fit --labels review.csv)
"""


@app.command(epilog=REPORT_EXAMPLES)
def report(
    data: Data,
    model: Model = "model.vae",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", show_default=False, parser=_location,
        help="HTML file to write. Default: DATA with .report.html as its suffix.")] = None,
    label_column: Annotated[str | None, typer.Option(
        "--label-column", "-l", show_default=False,
        help="Column of known labels: adds ROC and precision-recall curves and the confusion "
             "counts.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Highest-scoring rows listed.")] = 50,
    key: Annotated[str | None, typer.Option(
        "--key", show_default=False,
        help="Column naming each top row (an order id), or row_key for a hash of the model's columns. "
             "Default: the model's verdicts key, else the one column it left out as an identifier, else "
             "row_key.")] = None,
    review: Annotated[str | None, typer.Option(
        "--review", show_default=False, parser=_location,
        help="Also write the top rows with their keys and an empty label column to this .csv or .parquet "
             "file: fill in 1 (anomaly) or 0 (normal) and refit with fit --labels FILE.")] = None,
    batch_size: BatchSize = options.DEFAULT_BATCH_ROWS,
    jobs: Jobs = DEFAULT_JOBS,
    quiet: Quiet = False,
) -> None:
    """Score a table and write a one-file HTML report: what was flagged, and why.

    Summary, score histogram, top rows with their contributions, columns
    against the fitted data, series strips (windowed models), latent map,
    training curves and, with --label-column, ROC and PR curves. Needs the
    report extra: pip install 'vae-anomaly[report]'.
    """
    reuse_freed_memory()
    with user_errors(), progress(quiet, "reporting") as bar:
        from vae_anomaly.report.run import report_file

        summary = report_file(data, model, output, label_column=label_column, top=top, batch_size=batch_size,
                              n_jobs=jobs, progress=bar, key=key, review=review)
    _notes(summary, quiet)
    if not quiet:
        typer.echo(render.report_text(summary), err=True)


INFO_EXAMPLES = """Examples:

vae-detect info model.vae

vae-detect info model.vae --json | jq .calibration
"""


@app.command(epilog=INFO_EXAMPLES)
def info(
    model: Annotated[str, typer.Argument(help="Model file written by vae-detect fit (a local path or a URI).",
                                         show_default=False, parser=_location)],
    json_out: JsonOut = False,
    quiet: Quiet = False,
) -> None:
    """Describe a model file: columns, threshold, training and versions.

    Reads only the file's checked metadata; the network is not rebuilt.
    """
    with user_errors():
        from vae_anomaly.jobs.describe import describe_model

        description = describe_model(model)
    typer.echo(to_json(description) if json_out else render.info_text(description))


def main() -> None:
    """Entry point of the ``vae-detect`` script.

    SIGTERM is turned into an exception for the whole run, so a stopped job
    cleans up like Ctrl-C does and exits with 143.
    """
    with terminate_gracefully():
        app(prog_name="vae-detect")


if __name__ == "__main__":
    main()
