"""VAEDetector's constructor parameters are checked at fit by our own checker, with one-line messages.

The accepted and refused values are those of scikit-learn's validator that the
estimator used before (vae_anomaly.options.check_params replaces its private API): e.g.
``True`` counts as the integer 1, a NumPy bool is no integer, a
``numpy.random.Generator`` is no ``random_state``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone

from vae_anomaly import InvalidParameterError, VAEAnomalyError, VAEDetector
from vae_anomaly.options import ARRAY_LIKE, Interval, Options, check_params

X = np.random.default_rng(0).normal(size=(120, 3))
CONSTRAINTS = VAEDetector._CONSTRUCTOR_CONSTRAINTS


@pytest.mark.parametrize(("param", "value", "wanted"), [
    ("contamination", 0.7, "'auto' or a real number in (0, 0.5]"),
    ("contamination", "AUTO", "'auto' or a real number in (0, 0.5]"),
    ("target_fpr", 0.0, "a real number in (0, 0.5]"),
    ("latent_dim", 0, "an integer >= 1 or None"),
    ("latent_dim", 1.5, "an integer >= 1 or None"),
    ("latent_dim", np.True_, "an integer >= 1 or None"),
    ("max_iter", 2.0, "'auto' or an integer >= 1"),
    ("batch_size", "big", "'auto' or an integer >= 1"),
    ("max_categories", 1, "an integer >= 2"),
    ("early_stopping", "yes", "True or False"),
    ("early_stopping", 1, "True or False"),
    ("random_state", "seed", "None, an integer in [0, 4294967295] or a numpy.random.RandomState"),
    ("random_state", -1, "None, an integer in [0, 4294967295] or a numpy.random.RandomState"),
    ("random_state", 2**32, "None, an integer in [0, 4294967295] or a numpy.random.RandomState"),
    ("hidden_layer_sizes", 5, "a sequence (list, tuple, array) or None"),
    ("include_columns", "order_id", "a sequence (list, tuple, array) or None"),
    ("include_columns", sp.csr_matrix(np.eye(2)), "a sequence (list, tuple, array) or None"),
    ("beta", -0.5, "a finite real number >= 0"),
    ("beta", float("inf"), "a finite real number >= 0"),
    ("tol", float("nan"), "a finite real number >= 0"),
    ("learning_rate_init", 0, "a finite real number > 0"),
    ("min_log_var", float("-inf"), "a finite real number"),
    ("trim_fraction", 0.5, "a real number in [0, 0.5)"),
    ("validation_fraction", 1.0, "a real number in (0, 1)"),
    ("score_type", "ELBO", "'elbo' or 'reconstruction'"),
    ("scaler", None, "'robust', 'quantile' or 'standard'"),
    ("device", None, "a string"),
    ("time_column", 1, "a string or None"),
    ("verbose", -1, "a bool or an integer >= 0"),
])
def test_a_bad_value_is_refused_at_fit_naming_the_parameter_and_the_value(param, value, wanted):
    with pytest.raises(InvalidParameterError) as refused:
        VAEDetector(**{param: value}).fit(X)
    message, shown = str(refused.value), " ".join(repr(value).split())
    assert message.startswith(f"VAEDetector: {param} must be {wanted}; got "), message
    assert "\n" not in message and (message.endswith(f"; got {shown}") or len(shown) > 80), message


def test_the_message_reads_as_one_sentence():
    with pytest.raises(InvalidParameterError) as refused:
        VAEDetector(contamination=0.7).fit(X)
    assert str(refused.value) == ("VAEDetector: contamination must be 'auto' or a real number in (0, 0.5]; "
                                  "got 0.7")


def test_a_long_value_is_shown_on_one_line_cut_short():
    with pytest.raises(InvalidParameterError) as refused:
        VAEDetector(hidden_layer_sizes="x" * 500).fit(X)
    message = str(refused.value)
    assert "\n" not in message and message.endswith("...") and len(message) < 200, message


def test_the_error_is_a_value_error_and_a_type_error():
    for error in (ValueError, TypeError, VAEAnomalyError):
        with pytest.raises(error, match="latent_dim"):
            VAEDetector(latent_dim=0).fit(X)


@pytest.mark.parametrize(("param", "value"), [
    ("contamination", 0.5), ("contamination", np.float64(0.5)), ("contamination", np.str_("auto")),
    ("target_fpr", 0.5), ("trim_fraction", 0.0), ("trim_fraction", 0), ("label_weight", 0.0),
    ("max_iter", np.int64(3)), ("max_iter", np.int32(1)), ("n_samples", True), ("kl_warmup", 0),
    ("beta", np.float32(0.5)), ("beta", 0), ("beta", 1e300), ("learning_rate_init", 1e-9),
    ("min_log_var", -1e300), ("validation_fraction", 1e-9), ("max_categories", 2),
    ("latent_dim", None), ("window", np.uint8(4)), ("early_stopping", np.False_),
    ("hidden_layer_sizes", (16,)), ("hidden_layer_sizes", np.array([8, 4])), ("hidden_layer_sizes", []),
    ("include_columns", pd.Index(["a"])), ("include_columns", {"a", "b"}),
    ("random_state", 0), ("random_state", 2**32 - 1), ("random_state", np.int64(7)),
    ("random_state", np.random.RandomState(0)), ("verbose", np.True_), ("verbose", 3),
    ("time_column", np.str_("t")), ("device", "cpu"), ("scaler", "quantile"),
])
def test_the_allowed_edge_values_pass(param, value):
    check_params("VAEDetector", {param: value}, CONSTRAINTS)


def test_numpy_scalars_and_the_edges_fit():
    det = VAEDetector(contamination=0.5, trim_fraction=0.0, max_iter=np.int64(1), beta=np.float64(0.5),
                      latent_dim=np.int64(2), early_stopping=np.False_, random_state=np.int64(0)).fit(X)
    assert det.n_iter_ == 1 and (det.predict(X) == -1).mean() == 0.5


def test_the_check_happens_at_fit_not_in_init_or_set_params():
    det = VAEDetector(contamination=0.7)  # no error yet: scikit-learn's rule for estimators
    assert clone(det).get_params()["contamination"] == 0.7
    with pytest.raises(InvalidParameterError, match="contamination"):
        det.fit(X)
    det.set_params(contamination=0.5, latent_dim=0)
    assert det.get_params()["latent_dim"] == 0
    with pytest.raises(InvalidParameterError, match="latent_dim"):
        det.fit_predict(X)
    assert not hasattr(det, "threshold_")


def test_the_check_is_skipped_where_scikit_learn_says_so():
    with sklearn.config_context(skip_parameter_validation=True):
        det = VAEDetector(contamination=0.7, max_iter=1, random_state=0).fit(X)
    assert (det.predict(X) == -1).mean() == pytest.approx(0.7)
    with pytest.raises(InvalidParameterError):  # the switch holds only inside the context
        clone(det).fit(X)


def test_every_constructor_parameter_has_constraints():
    assert set(CONSTRAINTS) == set(VAEDetector().get_params(deep=False))
    assert all(CONSTRAINTS.values())


def test_contamination_is_a_rate_in_0_to_0_5():
    """What scikit-learn's outlier check asked of ``contamination``: an interval of reals in (0, 0.5]."""
    (interval,) = [c for c in CONSTRAINTS["contamination"] if isinstance(c, Interval)]
    assert (interval.kind, interval.low, interval.high, interval.closed) == ("real", 0, 0.5, "right")


@pytest.mark.parametrize(("constraint", "allowed", "refused"), [
    (Interval("integer", 1, None, closed="left"), [1, True, np.int64(2), 10**30],
     [0, False, 1.0, np.True_, np.timedelta64(3, "s"), "1", None]),
    (Interval("real", 0, 1, closed="neither"), [0.5, np.float16(0.25), 1e-300],
     [0, 1, 0.0, 1.0, float("nan"), np.nan, "0.5", 0.5 + 0j]),
    (Interval("real", None, None, closed="neither"), [-1e308, 0, 1e308],
     [float("inf"), float("-inf"), float("nan")]),
    (Interval("real", 0, None, closed="both"), [0, float("inf")], [-1e-300, float("nan")]),
    (Options("a", "b"), ["a", np.str_("b")], ["A", b"a", None, ["a"]]),
    (ARRAY_LIKE, [[], (1,), np.array([[1]]), pd.Series([1.0]), range(2)],
     ["ab", b"ab", 3, np.float64(1.0), None, sp.csr_matrix(np.eye(2)), iter([1])]),
])
def test_each_kind_of_constraint(constraint, allowed, refused):
    assert [v for v in allowed if not constraint.accepts(v)] == []
    assert [v for v in refused if constraint.accepts(v)] == []


def test_random_state_takes_what_check_random_state_takes_not_a_generator():
    for value in (np.random.default_rng(0), np.random, 1.0, np.True_):
        with pytest.raises(InvalidParameterError, match="random_state"):
            check_params("VAEDetector", {"random_state": value}, CONSTRAINTS)


def test_names_without_constraints_are_not_checked():
    check_params("Thing", {"free": object()}, {"size": [Interval("integer", 1)]})
    with pytest.raises(InvalidParameterError, match=r"^Thing: size must be an integer in \[1, 1\]; got 2$"):
        check_params("Thing", {"free": object(), "size": 2}, {"size": [Interval("integer", 1, 1)]})


def test_the_checks_leave_options_free_of_numpy_until_a_value_is_checked():
    # vae_anomaly.options is what `vae-detect --help` loads; NumPy comes only with a check.
    code = ("import sys, vae_anomaly.options as o; before = 'numpy' in sys.modules; "
            "o.check_params('T', {'n': 3}, {'n': [o.Interval('integer', 1)]}); "
            "print(before, 'numpy' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", "True"]
