"""scikit-learn's shared estimator checks, run on the default VAEDetector."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from vae_anomaly import VAEDetector

# Our threshold is calibrated on rows held out from the network, never on the rows it
# was fitted on. With contamination=0.1 these two checks want exactly 10% of the
# *training* rows flagged; held-out calibration flags about 10% of new rows instead,
# and fewer of the rows the network has seen. Both checks pass with the default
# contamination="auto"; they are set to a float inside the check.
EXPECTED_FAILED_CHECKS = {
    "check_outliers_train": "threshold is calibrated on held-out rows, not on the training rows",
    "check_outliers_fit_predict": "threshold is calibrated on held-out rows, not on the training rows",
}


@parametrize_with_checks([VAEDetector()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
