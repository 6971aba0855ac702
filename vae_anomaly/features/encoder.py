"""Turn user tables into the arrays the network reads, and back.

Numeric columns are scaled to roughly standard normal values
(:mod:`~vae_anomaly.features.scaling`); boolean and low-cardinality string
columns become integer category codes. Missing values stay missing (``NaN``
in the numeric block, ``-1`` in the code block) so the model can leave them
out of its likelihood instead of pretending they were observed.

The fitted state is plain arrays and JSON-able lists, so it can be saved
without pickling (see :mod:`vae_anomaly.persistence.modelfile`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError, SchemaMismatchError
from ..options import MAX_CATEGORIES
from .scaling import (
    MAX_Z,
    column_quantiles,
    heavy_tailed,
    mean_std,
    quantile_forward,
    quantile_inverse,
    robust_center_scale,
)
from .schema import (
    CATEGORICAL,
    NUMERIC,
    ColumnSpec,
    infer_schema,
    json_scalar,
    numeric_block,
    numeric_columns,
    require_columns,
)

__all__ = ["Encoded", "TabularPreprocessor"]


@dataclass
class Encoded:
    """Encoded rows: the network's view of a table.

    Attributes
    ----------
    num : ndarray of shape (n_samples, n_numeric), float32
        Scaled numeric values; ``NaN`` where the reading is missing.
    cat : ndarray of shape (n_samples, n_categorical), int64
        Category codes; ``-1`` where missing, ``len(categories)`` for a level
        never seen at fit time.
    """

    num: np.ndarray
    cat: np.ndarray
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.num.shape[0]

    def take(self, idx: np.ndarray) -> Encoded:
        """Return the rows at ``idx``."""
        return Encoded(self.num[idx], self.cat[idx])


class TabularPreprocessor:
    """Fit-once mapping from a table to :class:`Encoded` arrays and back.

    Parameters
    ----------
    scaler : {"robust", "quantile", "standard"}, default="robust"
        ``"robust"`` subtracts the median and divides by a robust spread,
        then passes heavy-tailed columns (see :func:`~vae_anomaly.features.scaling.heavy_tailed`) through
        ``asinh``. ``"quantile"`` maps each numeric column through its
        empirical CDF to a standard normal (rank-Gaussian), extended linearly
        past the fitted range so extreme values stay extreme. ``"standard"``
        subtracts the mean and divides by the standard deviation.
    max_categories : int, default=50
        Largest number of levels accepted for a text column.
    """

    def __init__(self, scaler: str = "robust", max_categories: int = MAX_CATEGORIES):
        self.scaler = scaler
        self.max_categories = max_categories

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        """Learn the schema and the scaling of ``frame``."""
        self.schema_ = infer_schema(frame, self.max_categories)
        self._split_names()
        values = numeric_block(frame, self.num_names_)
        empty = [n for n, ok in zip(self.num_names_, (~np.isnan(values)).any(axis=0), strict=True) if not ok]
        if empty:
            raise InvalidInputError(f"column {empty[0]!r} has no observed values")
        self.center_, self.scale_ = robust_center_scale(values)
        self.mean_, self.std_ = mean_std(values)
        self.quantiles_ = column_quantiles(values)
        self.heavy_ = heavy_tailed(self.quantiles_, self.center_, self.scale_)
        return self

    def _split_names(self) -> None:
        self.num_names_ = [s.name for s in self.schema_ if s.kind == NUMERIC]
        self.cat_specs_ = [s for s in self.schema_ if s.kind == CATEGORICAL]
        self.cat_sizes_ = [len(s.categories) for s in self.cat_specs_]

    # -- forward ---------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame) -> Encoded:
        """Encode ``frame`` with the fitted schema.

        Raises
        ------
        SchemaMismatchError
            If a fitted column is missing.
        InvalidInputError
            If a numeric column holds text or an infinite value.
        """
        require_columns(frame.columns, [s.name for s in self.schema_])
        self.check_kinds(frame)
        # Column by column into the rows of a (d, n) block, then one transposing cast: the
        # same values as scaling the (n, d) block, in a third of the time.
        scaled = np.empty((len(self.num_names_), len(frame)), dtype=np.float64)
        for j, v in enumerate(numeric_columns(frame, self.num_names_)):
            self._scale_column(v, j, out=scaled[j])
        num = scaled.T.astype(np.float32, order="C")
        cat = np.empty((len(frame), len(self.cat_specs_)), dtype=np.int64)
        for j, spec in enumerate(self.cat_specs_):
            cat[:, j] = _codes(frame[spec.name], spec)
        return Encoded(num, cat)

    def check_kinds(self, frame: pd.DataFrame) -> None:
        """Refuse a column whose dtype changed kind since fit (e.g. numbers became text)."""
        for spec in self.schema_:
            dtype = frame[spec.name].dtype
            now_text = pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
            now_numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            if spec.kind == NUMERIC and now_text:
                raise SchemaMismatchError(
                    f"column {spec.name!r} was numeric ({spec.dtype}) at fit time but is {dtype} now"
                )
            if spec.kind == CATEGORICAL and spec.dtype != "bool" and now_numeric and spec.categories \
                    and all(isinstance(c, str) for c in spec.categories):
                raise SchemaMismatchError(
                    f"column {spec.name!r} held text ({spec.dtype}) at fit time but is {dtype} now"
                )

    def scale_values(self, values: np.ndarray) -> np.ndarray:
        """Scale a float64 numeric block (NaN kept)."""
        scaled = np.empty((values.shape[1], values.shape[0]), dtype=np.float64)
        for j in range(values.shape[1]):
            self._scale_column(values[:, j], j, out=scaled[j])
        return np.ascontiguousarray(scaled.T)

    def _scale_column(self, v: np.ndarray, j: int, out: np.ndarray) -> np.ndarray:
        """Scale numeric column ``j`` (float64, left unchanged) into ``out`` (contiguous, float64)."""
        if self.scaler == "robust":
            np.subtract(v, self.center_[j], out=out)
            np.divide(out, self.scale_[j], out=out)
            if self.heavy_[j]:
                np.arcsinh(out, out=out)
        elif self.scaler == "standard":
            np.subtract(v, self.mean_[j], out=out)
            np.divide(out, self.std_[j], out=out)
        else:
            # Element-wise, so any order gives the same values; np.interp starts each search at
            # the previous hit, which makes it about 6x faster on sorted values.
            order = np.argsort(v)
            out[order] = quantile_forward(v[order], self.quantiles_[j], self.scale_[j])
        # Keep scaled values where float32 arithmetic stays finite (NaN passes through):
        # a value 1e20 spreads away must score as extreme, not overflow to a NaN score.
        np.clip(out, -MAX_Z, MAX_Z, out=out)
        return out

    # -- backward --------------------------------------------------------------------------
    def inverse_numeric(self, z: np.ndarray) -> np.ndarray:
        """Map scaled numeric values back to the original units."""
        z = np.asarray(z, dtype=np.float64)
        if self.scaler == "robust":
            z = z.copy()
            if self.heavy_.any():
                z[:, self.heavy_] = np.sinh(z[:, self.heavy_])
            return z * self.scale_ + self.center_
        if self.scaler == "standard":
            return z * self.std_ + self.mean_
        out = np.empty_like(z)
        for j in range(z.shape[1]):
            out[:, j] = quantile_inverse(z[:, j], self.quantiles_[j], self.scale_[j])
        return out

    def decode(self, num: np.ndarray, cat: np.ndarray) -> pd.DataFrame:
        """Build a table in the original columns and dtypes from scaled values and codes."""
        values = self.inverse_numeric(num)
        cols = {}
        num_pos = {n: j for j, n in enumerate(self.num_names_)}
        cat_pos = {s.name: j for j, s in enumerate(self.cat_specs_)}
        for spec in self.schema_:
            if spec.kind == NUMERIC:
                v = values[:, num_pos[spec.name]]
                if _is_integer_dtype(spec.dtype):
                    v = np.round(v).astype(np.int64)
                cols[spec.name] = v
            else:
                levels = np.array(spec.categories, dtype=object)
                codes = np.clip(cat[:, cat_pos[spec.name]], 0, len(levels) - 1)
                col = levels[codes]
                if spec.dtype == "bool":
                    col = col.astype(bool)
                cols[spec.name] = col
        return pd.DataFrame(cols)

    # -- persistence -----------------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict]:
        """Return ``(json_meta, arrays)`` describing the fitted state."""
        meta = {
            "scaler": self.scaler,
            "max_categories": self.max_categories,
            "schema": [s.to_dict() for s in self.schema_],
        }
        arrays = {"center": self.center_, "scale": self.scale_, "quantiles": self.quantiles_,
                  "mean": self.mean_, "std": self.std_, "heavy": self.heavy_.astype(np.uint8)}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict) -> TabularPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`get_state` output."""
        self = cls(scaler=meta["scaler"], max_categories=int(meta["max_categories"]))
        self.schema_ = [ColumnSpec.from_dict(d) for d in meta["schema"]]
        self._split_names()
        self.center_ = np.asarray(arrays["center"], dtype=np.float64)
        self.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        self.quantiles_ = np.asarray(arrays["quantiles"], dtype=np.float64)
        self.mean_ = np.asarray(arrays.get("mean", np.zeros_like(self.center_)), dtype=np.float64)
        self.std_ = np.asarray(arrays.get("std", np.ones_like(self.center_)), dtype=np.float64)
        self.heavy_ = np.asarray(arrays.get("heavy", np.zeros(self.center_.shape, np.uint8))).astype(bool)
        return self


def _is_integer_dtype(name: str) -> bool:
    try:
        return np.dtype(name).kind in "iu"
    except TypeError:
        return False


# Spellings of a boolean in text exports (CSV, JSON, database drivers), compared lower-case.
_BOOL_TEXT = {"true": True, "t": True, "yes": True, "1": True,
              "false": False, "f": False, "no": False, "0": False}


def _codes(col: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Category codes for one column: -1 missing, len(categories) unseen."""
    levels = list(spec.categories)
    unseen = len(levels)
    if spec.dtype == "bool" or levels == [False, True]:
        if pd.api.types.is_bool_dtype(col.dtype):
            arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
            out = np.where(np.isnan(arr), -1, arr).astype(np.int64)
            return out
        if pd.api.types.is_string_dtype(col.dtype):  # a boolean written as text by a CSV or JSON export
            col = col.map(lambda v: _BOOL_TEXT.get(v.strip().lower(), v) if isinstance(v, str) else v)
    lookup = {v: i for i, v in enumerate(levels)}
    obj = col.astype(object).to_numpy()
    try:
        return np.fromiter(
            (-1 if _is_missing(v) else lookup.get(json_scalar(v), unseen) for v in obj),
            dtype=np.int64,
            count=len(obj),
        )
    except TypeError:  # an unhashable cell (a list, a dict) cannot be a category
        bad = next(v for v in obj if not isinstance(v, Hashable))
        raise InvalidInputError(
            f"column {spec.name!r} holds {type(bad).__name__} values, which cannot be categories"
        ) from None


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))
