"""Which columns of a training table a model is fitted on, and why the others are not.

``vae-detect fit`` uses every column the model can use unless told
otherwise; columns it cannot use (all missing, dates) and columns that look
like identifiers (:mod:`~vae_anomaly.features.identifiers`: order numbers,
row numbers, numeric timestamps, id-like text) are left out with a reason
that the fit summary prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..exceptions import InvalidInputError
from ..options import MAX_CATEGORIES
from .dtypes import nested_type, values_kind
from .identifiers import identifier_columns, text_reason
from .schema import infer_schema
from .series import WindowSpec

__all__ = ["ColumnChoice", "choose_columns", "ignore_reason"]


@dataclass
class ColumnChoice:
    """Which columns of a table a model is fitted on, and why the others are not.

    Attributes
    ----------
    used : list of str
        Columns given to the model, in table order.
    ignored : dict of str to str
        Columns left out automatically, each with the reason (identifiers
        included).
    excluded : list of str
        Columns the user left out.
    identifiers : dict of str to str
        The columns of ``ignored`` left out because they look like
        identifiers (:func:`~vae_anomaly.features.identifiers.identifier_reason`);
        the model is given them too, and leaves them out for the same reason.
    """

    used: list = field(default_factory=list)
    ignored: dict = field(default_factory=dict)
    excluded: list = field(default_factory=list)
    identifiers: dict = field(default_factory=dict)


def _check_names(frame: pd.DataFrame, names: Iterable[str]) -> None:
    have = [str(c) for c in frame.columns]
    for name in names:
        if name not in have:
            shown = ", ".join(have[:12]) + (", ..." if len(have) > 12 else "")
            raise InvalidInputError(f"column {name!r} is not in the data (it has: {shown})")


def ignore_reason(col: pd.Series, max_categories: int = MAX_CATEGORIES) -> str | None:
    """Why a column cannot be modelled as it is, or ``None`` if it can.

    Parameters
    ----------
    col : Series
        One column of the training table.
    max_categories : int, default=50
        Text columns with more distinct values than this are left out.

    Returns
    -------
    str or None
        A short reason such as ``"all values are missing"`` or
        ``"nested values (list<item: int64>) are not modelled"``.
    """
    dtype = col.dtype
    if len(col) and col.isna().all():
        return "all values are missing"
    nested = nested_type(col)
    if nested is not None:
        return f"nested values ({nested}) are not modelled"
    kind = values_kind(col)
    if kind in ("datetimes", "durations"):
        return f"{'dates or times' if kind == 'datetimes' else 'durations'} ({dtype}) are not modelled"
    reason = text_reason(col, max_categories)
    if reason is not None:
        return reason
    try:
        infer_schema(col.to_frame(), max_categories)
    except InvalidInputError as exc:
        return str(exc)
    return None


def choose_columns(frame: pd.DataFrame, columns: Sequence[str] = (), exclude: Sequence[str] = (),
                   max_categories: int = MAX_CATEGORIES, always: Sequence[str] = (),
                   include: Sequence[str] = (), window: WindowSpec | None = None) -> ColumnChoice:
    """Pick the columns to fit on.

    Parameters
    ----------
    frame : DataFrame
        The training table.
    columns : sequence of str, optional
        Use exactly these columns (checked by the model, not auto-ignored).
        By default every column the model can use.
    exclude : sequence of str, optional
        Leave these columns out (a label, a timestamp, ...).
    max_categories : int, default=50
        Text columns with more distinct values are left out automatically.
    always : sequence of str, optional
        Columns kept whatever they hold, such as a window's time and group
        columns.
    include : sequence of str, optional
        Columns kept even where they look like identifiers (checked by the
        model, not auto-ignored).
    window : WindowSpec, optional
        A windowed model's settings: columns are looked at in time order
        within each series for the identifier rule.

    Returns
    -------
    ColumnChoice

    Raises
    ------
    InvalidInputError
        If a named column is not in ``frame``, a column of ``always`` or
        ``include`` is also excluded, a column of ``include`` is not among
        ``columns``, or no column is left to model besides ``always``.
    """
    _check_names(frame, list(columns) + list(exclude) + list(always) + list(include))
    excluded = [str(c) for c in frame.columns if str(c) in set(exclude)]
    for name in always:
        if name in excluded:
            raise InvalidInputError(f"column {name!r} is the window's time or group column; it cannot also "
                                    "be excluded")
    for name in include:
        if name in excluded:
            raise InvalidInputError(f"column {name!r} is both kept (--include) and excluded (--exclude); "
                                    "choose one")
        if columns and name not in columns and name not in always:
            raise InvalidInputError(f"column {name!r} is kept with --include but is not among --columns")
    choice = ColumnChoice(excluded=excluded)
    wanted, always = set(columns), set(always)
    candidates = [str(name) for name in frame.columns if str(name) not in excluded
                  and not (wanted and str(name) not in wanted | always)]
    checked = [] if wanted else [name for name in candidates if name not in always | set(include)]
    choice.identifiers = identifier_columns(frame, checked, window, max_categories)
    for name in candidates:
        if name in choice.identifiers:
            choice.ignored[name] = choice.identifiers[name]
            continue
        reason = ignore_reason(frame[name], max_categories) if name in checked else None
        if reason is None:
            choice.used.append(name)
        else:
            choice.ignored[name] = reason
    if not [name for name in choice.used if name not in always]:
        besides = " besides the time and group columns" if always else ""
        raise InvalidInputError(f"no column is left to model{besides}; check --columns/--exclude and the "
                                "ignored columns (--include keeps one that looks like an identifier)")
    return choice
