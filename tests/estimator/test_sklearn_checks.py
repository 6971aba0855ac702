"""scikit-learn's shared estimator checks, run on the default VAEDetector, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from vae_anomaly import VAEDetector


@parametrize_with_checks([VAEDetector()])
def test_sklearn_compatible(estimator, check):
    check(estimator)
