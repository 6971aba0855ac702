"""``vae-detect info``: what a model file holds, from its verified metadata (the network is not built)."""

from __future__ import annotations

import os

from ..persistence.container import read_metadata
from .verdict_record import recorded_verdicts

__all__ = ["describe_model"]


def _input_columns(meta: dict) -> list[dict]:
    """The modelled input columns. A summary-window model's schema also lists the statistics
    it derives from each channel (``mean(x)``, ...); only the channels themselves are shown,
    each with the dtype it had in the training data (its statistics are float64)."""
    schema = meta.get("preprocessing", {}).get("schema", [])
    window = meta.get("window") or {}
    if window.get("features") != "summary":
        return schema
    channels = set(window.get("channels", []))
    dtypes = window.get("channel_dtypes")  # absent from files written before it was recorded
    dtypes = dtypes if isinstance(dtypes, dict) else {}
    return [{**c, "dtype": dtypes.get(c["name"], c.get("dtype"))}
            for c in schema if c.get("name") in channels]


def describe_model(model: str | os.PathLike) -> dict:
    """What a model file holds, from its verified metadata (the network is not built).

    Returns
    -------
    dict
        ``params``, ``columns`` (name, kind, dtype, categories),
        ``ignored_columns`` (input columns left out as identifiers, name to
        reason; empty for files written before it was recorded), ``threshold``,
        ``calibration`` (method, rate, n_calibration, score_type,
        threshold_method, threshold_rule, tail: the fitted tail and its
        quality or None, warning), ``drift_columns`` (whether the file holds
        the drift check's column reference: from model format 3),
        ``covariance_type`` (``"full"`` when the score uses the residuals'
        covariance, else ``"diag"``),
        ``training`` (epochs, best epoch, final losses, fit time, device,
        training rows, ``n_labelled_anomalies``: the known anomalies given
        to fit, ``n_trimmed``: the model rows, rows or windows, they left
        out of training and calibration, ``verdicts``: what the verdicts
        file of ``fit --labels`` held and matched, see
        :meth:`~vae_anomaly.jobs.verdicts.Verdicts.to_dict`, or None) and
        ``versions``.
    """
    meta = read_metadata(model)
    train = meta.get("training", {})
    cal = meta.get("calibration", {})
    losses, val_losses = train.get("loss_curve") or [None], train.get("validation_loss_curve") or [None]
    return {
        "model": str(model),
        "format_version": meta.get("format_version"),
        "params": meta.get("params", {}),
        "columns": _input_columns(meta),
        "ignored_columns": meta.get("ignored_columns") or {},
        "threshold": cal.get("threshold"),
        "calibration": {
            **{k: cal.get(k) for k in ("method", "rate", "n_calibration", "score_type")},
            # Files before model format 3 were all conformal, without a tail or a warning.
            "threshold_method": cal.get("threshold_method", "conformal"),
            "threshold_rule": cal.get("threshold_rule", "conformal"),
            "tail": cal.get("tail"),
            "warning": cal.get("warning"),
        },
        "drift_columns": (meta.get("format_version") or 0) >= 3,
        # What the numeric residuals are scored with; files before model format 5: "diag".
        "covariance_type": meta.get("network", {}).get("covariance_type", "diag"),
        "training": {
            "epochs": train.get("n_iter"),
            "best_epoch": train.get("best_epoch"),
            "final_loss": losses[-1],
            "final_validation_loss": val_losses[-1],
            "fit_time_s": train.get("fit_time_s"),
            "device": train.get("device"),
            "n_train_rows": train.get("n_train_rows"),
            # Files written before labels were recorded were fitted without them.
            "n_labelled_anomalies": train.get("n_labelled_anomalies", 0),
            "n_trimmed": train.get("n_trimmed", 0),
            "verdicts": recorded_verdicts(meta),  # what fit --labels joined; None without
            "score_view": train.get("score_view"),  # the view the labels chose, with its evidence; or None
        },
        "window": meta.get("window"),
        "versions": meta.get("versions", {}),
    }
