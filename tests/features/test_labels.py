"""How labels are read: a label column (evaluate, fit --label-column) and the ``y`` of ``fit``."""

import numpy as np
import pandas as pd
import pytest

from vae_anomaly.exceptions import InvalidInputError
from vae_anomaly.features.labels import binary_labels, fit_labels

KNOWN = [False, True, False]


@pytest.mark.parametrize("y", [[0, 1, 0], [False, True, False], [0.0, 1.0, np.nan], ["no", "Anomaly", None],
                               pd.Series([0, 1, None], dtype="Int64", index=[7, 3, 5]),
                               np.array([0, 1.0, None], dtype=object), pd.DataFrame({"y": [0, 1, 0]}),
                               np.array([[0], [1], [0]])],
                         ids=["ints", "bools", "nan", "words", "nullable", "objects", "frame", "column"])
def test_fit_reads_zeros_ones_and_missing_values_as_labels(y):
    known, why = fit_labels(y, 3)
    assert why is None and known.tolist() == KNOWN


@pytest.mark.parametrize("y, shown", [([0, 1, 2], "2 at row 2"), ([1, 2, 1], "2 at row 1"),
                                      ([0.5, 0.0, 1.0], "0.5 at row 0"), (["0", "1", "3"], "'3' at row 2"),
                                      ([1j, 1 + 1j, 1j], "1j at row 0")])
def test_fit_does_not_read_other_targets_as_labels_and_says_which_value(y, shown):
    known, why = fit_labels(y, 3)
    assert known is None and why.startswith(f"y holds {shown}: fit reads y as labels only when it holds 1")


@pytest.mark.parametrize("y", [[-1, 1, 1], [1, -1, 0]])
def test_scikit_learns_outlier_convention_would_be_read_backwards_and_raises(y):
    with pytest.raises(InvalidInputError, match=r"y holds -1 at row \d: .* not as scikit-learn's -1 for an"):
        fit_labels(y, 3)


def test_a_label_column_with_missing_values_reads_them_as_not_known_only_when_allowed():
    column = pd.Series([1.0, None, 0.0])
    assert binary_labels(column, "known", missing_ok=True).tolist() == [True, False, False]
    with pytest.raises(InvalidInputError, match="label column 'known' has 1 missing value"):
        binary_labels(column, "known")


@pytest.mark.parametrize("values, message", [
    (pd.Series([0, 1, 2]), "label column 'c' should hold 0 or 1 but holds 2 at row 12"),
    (pd.Series(["yes", "maybe", "no"]),
     "label column 'c' should hold 0/1 or true/false but holds 'maybe' at row 11"),
])
def test_a_bad_label_names_the_column_the_value_and_the_row(values, message):
    with pytest.raises(InvalidInputError, match=message):
        binary_labels(values, "c", missing_ok=True, first_row=10)
