"""Plain-text views of the dicts the library returns, for the terminal."""

from __future__ import annotations

__all__ = ["labels_text", "view_text", "row_key_text", "verdicts_text", "note_lines", "fit_text",
           "score_text", "drift_line", "evaluate_text", "info_text", "report_text"]


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _names(names) -> str:
    return ", ".join(names) if names else "none"


def _rate(cal: dict) -> str:
    rule = cal.get("threshold_rule")
    return (f"{cal.get('method')} = {_num(cal.get('rate'))}, from {cal.get('n_calibration')} held-out rows"
            + (f"; {rule} rule" if rule else ""))


def _tail(tail: dict | None) -> str:
    if tail is None:
        return "none fitted (threshold_method=conformal)"
    if tail.get("shape") is None:
        return f"none fitted ({str(tail.get('status')).replace('_', ' ')}): conformal only"
    return (f"{tail['status'].replace('_', ' ')}, shape {_num(tail['shape'], 3)}, "
            f"scale {_num(tail['scale'], 4)}, top {tail['n_exceedances']} held-out scores, "
            f"fit KS p = {_num(tail['ks_p_value'], 2)}; used above {_num(tail['junction'], 6)}")


def _window(w: dict) -> str:
    keys = ", ".join(f"{k.split('_')[0]} column {w[k]!r}"
                     for k in ("time_column", "group_column") if w.get(k))
    seen = "per-channel statistics" if w.get("features") == "summary" else "stacked rows"
    step = w.get("median_step_s")
    if step is not None:  # numeric time columns: the column's own units
        keys += f", time step {step:g}{'' if w.get('time_kind') == 'number' else ' s'}"
    return f"{w['size']} rows, {seen}" + (f" ({keys})" if keys else "")


def labels_text(anomalies: int, trimmed: int, windowed: bool, label_weight: float | None = None) -> str:
    """What the known anomalies of a fit changed, in one line (after ``labels:``).

    ``label_weight`` is the fit's (None: a model file from before it, whose
    labels were only left out).
    """
    if not anomalies:
        return "none"
    known = f"{anomalies:,} known anomal{'y' if anomalies == 1 else 'ies'}"
    if windowed:
        text = (f"{known}; the {trimmed:,} window{'' if trimmed == 1 else 's'} holding one left out of "
                "training and calibration")
    else:
        text = f"{known}, left out of training and calibration"
    if label_weight:
        text += f", trained to score high (label_weight {label_weight:g})"
    return text


def view_text(view: dict) -> str:
    """The score view the labels chose and their evidence (``training.score_view``), in one line."""
    auc = ", ".join(f"{name} {value:.3f}" for name, value in view["label_auc"].items())
    bound = view.get("lower_bound")
    why = ("kept: no strong evidence" if view["view"] == view["default"]
           else f"chosen over {view['default']}")
    return (f"{view['view']} ({why}; the {view['n_labels']} labels' AUC against held-out rows: {auc}; "
            f"lower bound of the gain {'none' if bound is None else f'{bound:+.3f}'})")


def row_key_text(key: dict) -> str:
    """A row key (``name``, ``source``, ``hashed``) in a few words."""
    if key["source"] == "hash":
        return f"{key['name']} (a hash of the values of the {len(key['hashed'])} model columns)"
    return key["name"] + (" (the column the model left out as an identifier)" if key["source"] == "identifier"
                          else "")


def verdicts_text(v: dict) -> str:
    """What a verdicts file held and matched, in one line (after ``verdicts:``)."""
    def rows(n: int) -> str:
        return f"{n:,} row{'' if n == 1 else 's'}"

    n = v["anomalies"]
    found = [f"{n:,} anomal{'y' if n == 1 else 'ies'} on {rows(v['rows_anomalous'])}"]
    if v["normal"]:
        found.append(f"{v['normal']:,} normal on {rows(v['rows_normal'])} (kept as training rows)")
    text = f"{v['verdicts']:,} in {v['file']} by {row_key_text(v['key'])}: {', '.join(found)}"
    if v.get("unreviewed"):
        text += f"; {v['unreviewed']:,} without a label, skipped"
    if v.get("shared_keys"):
        text += f"; {v['shared_keys']:,} key(s) name more than one row, and their verdict applies to each"
    return text


def note_lines(s: dict) -> list[str]:
    """``note: ...`` lines of what the reader noticed (the ``notes`` of a job's summary)."""
    return [f"note: {note}" for note in s.get("notes") or ()]


def fit_text(s: dict) -> str:
    """Summary of :func:`vae_anomaly.jobs.fit.fit_file`."""
    lines = [
        f"fitted on {s['rows']:,} rows in {s['fit_time_s']:.2f} s "
        f"({s['epochs']} epochs, best {s['best_epoch']}) on {s['device']}",
        f"columns used ({len(s['columns_used'])}): {_names(s['columns_used'])}",
    ]
    if s["columns_ignored"]:
        lines.append(f"columns ignored ({len(s['columns_ignored'])}):")
        lines += [f"  {name}: {why}" for name, why in s["columns_ignored"].items()]
    if s["columns_excluded"]:
        lines.append(f"columns excluded: {_names(s['columns_excluded'])}")
    if s.get("type_changes"):
        lines.append("columns whose type changed in the file: " + ", ".join(
            f"{c['column']} ({c['first']}, then {c['other']} in {c['where']}: read as {c['read_as']})"
            for c in s["type_changes"]))
    if s.get("window"):
        lines.append(f"windows: {_window(s['window'])}")
    if s.get("labels"):
        lab = s["labels"]
        source = f"column {lab['column']!r}" if lab.get("column") else "verdicts"
        if lab.get("column") and s.get("verdicts"):
            source += " and verdicts"
        text = labels_text(lab["anomalies"], lab["trimmed"], bool(s.get("window")), lab.get("label_weight"))
        lines.append(f"labels ({source}): {text}")
        if lab.get("score_view"):
            lines.append(f"score view: {view_text(lab['score_view'])}")
    if s.get("verdicts"):
        lines.append(f"verdicts: {verdicts_text(s['verdicts'])}")
    lines.append(f"threshold: {_num(s['threshold'], 6)} ({_rate(s['calibration'])})")
    if s["calibration"].get("warning"):
        lines.append(f"warning: {s['calibration']['warning']}")
    if s.get("covariance_note"):
        lines.append(f"warning: --covariance-type full was not used: {s['covariance_note']}")
    lines.append(f"model written to {s['model']}")
    return "\n".join(lines)


def score_text(s: dict) -> str:
    """Summary of :func:`vae_anomaly.jobs.score.score_table`."""
    share = 100.0 * s["anomalies"] / s["rows"] if s["rows"] else 0.0
    where = "stdout" if s["output"] == "-" else s["output"]
    speed = f"{s['rows_per_s']:,.0f} rows/s" if s["rows_per_s"] else "n/a rows/s"
    text = (f"scored {s['rows']:,} rows in {s['seconds']:.2f} s ({speed}); "
            f"{s['anomalies']:,} anomalies ({share:.2f}%) -> {where}")
    if not s["rows"]:
        text = f"0 rows scored: the input holds no rows; the output has every column and no rows -> {where}"
    if s.get("time_gaps"):
        text += (f"\nwarning: {s['time_gaps']:,} time gap(s) longer than {s['time_gap_tolerance']:g}x "
                 "the fitted time step; "
                 f"windows run across them: {'; '.join(s['time_gap_examples'])}")
    if s.get("drift", {}).get("note"):
        text += f"\nnote: drift {s['drift']['note']}"
    return text


def drift_line(d: dict) -> str:
    """One line on a detected drift, from the ``drift`` object of
    :func:`vae_anomaly.jobs.score.score_table`."""
    flagged, scores, columns = d["flagged"], d["scores"], d.get("columns")
    moved = ", ".join(c["name"] for c in (columns or {}).get("top", [])[:3] if c["p_value"] <= d["alpha"])
    return (f"drift detected (p = {_num(d['p_value'], 2)}): {100 * flagged['share']:.2f}% flagged against "
            f"at most {100 * flagged['reference_share']:.2f}% expected; score distribution moved by "
            f"{_num(scores['ks_statistic'], 2)} (KS)"
            + (f"; columns that moved most: {moved}" if moved else ""))


def evaluate_text(m: dict) -> str:
    """Metrics of :func:`vae_anomaly.jobs.evaluate.classification_metrics` as a small table."""
    counts = (f"{m['n_rows']:,} ({m['n_anomalies']:,} labelled anomalies, {m['n_flagged']:,} flagged)"
              if m["n_rows"] else "0: the table holds no rows, so every metric is undefined (null in --json)")
    rows = [
        ("rows", counts),
        ("AUC-ROC", _num(m["auc_roc"])),
        ("AUC-PR", _num(m["auc_pr"]) + "  (average precision)"),
        ("threshold", _num(m["threshold"], 6)),
        ("precision", _num(m["precision"])),
        ("recall", _num(m["recall"])),
        ("F1", _num(m["f1"])),
        ("confusion", f"TP {m['tp']:,}  FP {m['fp']:,}  TN {m['tn']:,}  FN {m['fn']:,}"),
    ]
    return "\n".join(f"{k:<11}{v}" for k, v in rows)


def _column_line(col: dict, width: int) -> str:
    kind = col.get("kind", "?")
    extra = ""
    if col.get("categories") is not None:
        cats = [str(c) for c in col["categories"]]
        shown = ", ".join(cats[:6]) + (", ..." if len(cats) > 6 else "")
        extra = f"  {len(cats)} levels: {shown}"
    return f"  {col['name']:<{width}}  {kind:<11}  {col.get('dtype', '?'):<8}{extra}".rstrip()


def info_text(d: dict) -> str:
    """Description of a model file from :func:`vae_anomaly.jobs.describe.describe_model`."""
    cols = d["columns"]
    width = max((len(c["name"]) for c in cols), default=4)
    t = d["training"]
    cal = d["calibration"]
    params = "  ".join(f"{k}={v}" for k, v in sorted(d["params"].items()))
    versions = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
    lines = [f"model:      {d['model']} (format version {d['format_version']})",
             f"columns ({len(cols)}):"]
    lines += [_column_line(c, width) for c in cols]
    ignored = d.get("ignored_columns") or {}
    if ignored:
        lines.append(f"left out as identifiers ({len(ignored)}):")
        lines += [f"  {name}: {why}" for name, why in ignored.items()]
    lines += [
        f"windows:    {_window(d['window']) if d.get('window') else 'none (rows are scored one by one)'}",
        "labels:     " + labels_text(t.get("n_labelled_anomalies") or 0, t.get("n_trimmed") or 0,
                                     bool(d.get("window")), (d.get("params") or {}).get("label_weight")),
        *([f"verdicts:   {verdicts_text(t['verdicts'])}"] if t.get("verdicts") else []),
        *([f"score view: {view_text(t['score_view'])}"] if t.get("score_view") else []),
        f"threshold:  {_num(d['threshold'], 6)} on the {cal.get('score_type')} score ({_rate(cal)})",
        f"tail:       {_tail(cal.get('tail'))}",
        f"residuals:  {'full covariance' if d.get('covariance_type') == 'full' else 'independent (diag)'}",
        *([f"warning:    {cal['warning']}"] if cal.get("warning") else []),
        "drift:      " + ("score and column tests" if d.get("drift_columns") else
                          "score tests only (no column reference: model file written before format "
                          "version 3)"),
        f"training:   {t['epochs']} epochs (best {t['best_epoch']}), final loss {_num(t['final_loss'])}, "
        f"validation loss {_num(t['final_validation_loss'])}",
        f"            {_num(t['fit_time_s'])} s on {t['device']}, {t['n_train_rows']} training rows",
        f"parameters: {params}",
        f"versions:   {versions}",
    ]
    return "\n".join(lines)


def report_text(s: dict) -> str:
    """Summary of :func:`vae_anomaly.report.run.report_file`."""
    share = 100.0 * s["anomalies"] / s["rows"] if s["rows"] else 0.0
    if not s["rows"]:
        return (f"report of 0 rows: the data hold no rows, and the page says so -> {s['output']} "
                f"({s['bytes'] / 1e3:,.0f} kB)")
    text = (f"report of {s['rows']:,} rows ({s['anomalies']:,} anomalies, {share:.2f}%) "
            f"in {s['seconds']:.2f} s -> {s['output']} ({s['bytes'] / 1e3:,.0f} kB)")
    if s.get("key"):
        text += f"\nrow key: {row_key_text(s['key'])}"
    if s.get("review"):
        text += (f"\ntop {s['review']['rows']:,} rows to review -> {s['review']['path']} (fill in label: 1 "
                 "anomaly, 0 normal; then fit --labels)")
    return text
