"""Synthetic anomalies of the four ADBench kinds, made from a dataset's normal rows.

Source
------
Han, Hu, Huang, Jiang and Zhao, "ADBench: Anomaly Detection Benchmark",
NeurIPS 2022, section 3.3 ("realistic synthetic data") and the generator
in their repository (``adbench/datasets/data_generator.py``,
``generate_realistic_synthetic``). From the normal rows of a real dataset
they fit a model of the normal data, draw new normal rows from it and draw
anomalies of one kind:

local
    a Gaussian mixture (number of components chosen by BIC among 1..9) is
    fitted to the normal rows; the normals are drawn from it, the
    anomalies from the same mixture with every covariance multiplied by
    ``alpha = 5``.
global
    normals drawn from the same mixture; every feature of an anomaly drawn
    independently and uniformly from ``[1.1 * min, 1.1 * max]`` of that
    feature over the drawn normals.
dependency
    normals drawn from a vine copula fitted to the normal rows; every
    feature of an anomaly drawn independently from a Gaussian KDE of that
    feature, so each marginal is kept and the dependence between features
    is broken.
cluster
    normals drawn from the mixture; anomalies drawn from it with every
    component mean multiplied by ``alpha = 5``.

What this module does, and where it departs from ADBench
--------------------------------------------------------
* **Units.** ADBench applies the formulas to raw values, where
  ``5 * mean`` and ``1.1 * min`` depend on where each feature's origin
  happens to lie. Here every feature is first mapped to ``[0, 1]`` by the
  normal rows' minimum and maximum (ADBench itself min-max scales its data
  before fitting detectors, and most of its sets are non-negative with a
  minimum near 0), the formulas are applied there, and the rows are mapped
  back to raw units. A feature that is constant over the normal rows stays
  at that constant in every row.
* **Mixture.** scikit-learn's ``GaussianMixture`` (full covariances,
  ``reg_covar=1e-6`` on the ``[0, 1]`` scale), number of components chosen
  by BIC among 1..9 on at most :data:`BIC_ROWS` normal rows (ADBench uses
  all of them), then refitted on all the (capped) normal rows. Sets with
  more than :data:`MAX_MIXTURE_FEATURES` varying features get one
  component (a full-covariance mixture of ``17_InternetAds``' 1,555
  features would take far longer than all detectors together). The three
  mixture kinds of one (dataset, seed) share one fitted mixture. Samples
  are drawn with this module's own seeded generator, so normals and
  anomalies never reuse the same random draws.
* **Dependency.** No vine copula (that needs the ``copulas`` package and
  minutes per set): the normals are the real normal rows, and every
  feature of an anomaly is resampled independently, with replacement, from
  that feature's values over the normal rows (a KDE with zero bandwidth).
  The marginals are then exactly the normals' marginals, including their
  discreteness, so a detector cannot tell the anomalies by values that
  never occur in the normal rows.
* **Sizes.** At most :data:`MAX_NORMALS` normal rows (a seeded draw without
  replacement from the real normal rows); the number of anomalies is
  :data:`ANOMALY_SHARE` of the normals' count (at least
  :data:`MIN_ANOMALIES`) instead of the real anomaly count, so that every
  set has a modest anomaly share.
* **Seed.** One set is fixed by ``(dataset name, kind, seed)``: the draws
  use ``numpy.random.default_rng([seed, kind number, crc32(name)])`` and
  the mixture is fitted with ``random_state=seed``. The benchmark then
  splits the set 70/30 with the same seed as the real sets.
"""

from __future__ import annotations

import zlib

import numpy as np

#: The anomaly kinds, in ADBench's order of section 3.3.
KINDS = ("local", "global", "dependency", "cluster")
#: Covariance factor (local) and mean factor (cluster), as in ADBench.
ALPHA = 5.0
#: Range factor of the global kind, as in ADBench (``1 + percentage``).
GLOBAL_FACTOR = 1.1
#: Normal rows kept at most per synthetic set.
MAX_NORMALS = 10_000
#: Anomalies per normal row (5 / 95: anomalies are 5 % of the set).
ANOMALY_SHARE = 5 / 95
#: Fewest anomalies in a synthetic set.
MIN_ANOMALIES = 10
#: Rows used to choose the number of mixture components by BIC.
BIC_ROWS = 2_000
#: Candidate numbers of mixture components, as in ADBench.
COMPONENTS = tuple(range(1, 10))
#: Above this many varying features the mixture has one component.
MAX_MIXTURE_FEATURES = 200


def kind_seed(name: str, kind: str, seed: int) -> np.random.Generator:
    """Return the generator that fixes one synthetic set.

    Parameters
    ----------
    name : str
        Name of the source dataset (file stem).
    kind : str
        One of :data:`KINDS`.
    seed : int
        Benchmark seed.

    Returns
    -------
    numpy.random.Generator
        ``default_rng([seed, KINDS.index(kind), crc32(name)])``.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown synthetic kind {kind!r}; choose from "
                         f"{', '.join(KINDS)}")
    return np.random.default_rng([int(seed), KINDS.index(kind),
                                  zlib.crc32(name.encode())])


def sizes(n_normal_rows: int) -> tuple[int, int]:
    """Number of normal rows and anomalies of a synthetic set.

    Parameters
    ----------
    n_normal_rows : int
        Normal rows of the real dataset.

    Returns
    -------
    n_normals, n_anomalies : int
        ``min(n_normal_rows, MAX_NORMALS)`` and
        ``max(MIN_ANOMALIES, round(n_normals * ANOMALY_SHARE))``.

    Examples
    --------
    >>> sizes(67), sizes(1_000), sizes(250_000)
    ((67, 10), (1000, 53), (10000, 526))
    """
    n_normals = min(int(n_normal_rows), MAX_NORMALS)
    return n_normals, max(MIN_ANOMALIES, round(n_normals * ANOMALY_SHARE))


def _fit_mixture(Z: np.ndarray, seed: int):
    """Fit the Gaussian mixture of the normal rows on the ``[0, 1]`` scale.

    Parameters
    ----------
    Z : ndarray of shape (n_normals, n_varying)
        Normal rows, varying features only, min-max scaled.
    seed : int
        ``random_state`` of the mixtures.

    Returns
    -------
    sklearn.mixture.GaussianMixture
        Fitted with the number of components of lowest BIC.
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # many small BLAS calls: 1 thread is
        return _fit_mixture_1(Z, seed, GaussianMixture)  # far faster


def _fit_mixture_1(Z: np.ndarray, seed: int, GaussianMixture):
    """Body of :func:`_fit_mixture`, run with one BLAS thread."""
    candidates = COMPONENTS if Z.shape[1] <= MAX_MIXTURE_FEATURES else (1,)
    rng = np.random.default_rng(seed)
    sub = Z if len(Z) <= BIC_ROWS else Z[rng.choice(len(Z), BIC_ROWS,
                                                    replace=False)]
    best, best_bic = 1, np.inf
    for k in candidates:
        if k > len(sub):
            break
        bic = GaussianMixture(n_components=k, random_state=seed).fit(sub).bic(sub)
        if bic < best_bic:
            best, best_bic = k, bic
    return GaussianMixture(n_components=best, random_state=seed).fit(Z)


def _sample_mixture(means: np.ndarray, covariances: np.ndarray,
                    weights: np.ndarray, n: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Draw rows from a full-covariance Gaussian mixture.

    Parameters
    ----------
    means : ndarray of shape (k, d)
    covariances : ndarray of shape (k, d, d)
    weights : ndarray of shape (k,)
    n : int
        Rows to draw.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n, d)
    """
    component = rng.choice(len(weights), size=n, p=weights / weights.sum())
    out = np.empty((n, means.shape[1]))
    for k in range(len(weights)):
        rows = np.flatnonzero(component == k)
        if len(rows):
            out[rows] = rng.multivariate_normal(means[k], covariances[k],
                                                size=len(rows),
                                                method="cholesky")
    return out


class NormalModel:
    """The normal rows of one dataset, ready to make synthetic sets.

    Parameters
    ----------
    name : str
        Dataset name (file stem); part of every set's seed.
    X : ndarray of shape (n_samples, n_features)
        Real rows, raw units.
    y : ndarray of shape (n_samples,)
        Real labels (1 = anomaly); only rows with label 0 are used.
    seed : int
        Benchmark seed.

    Raises
    ------
    ValueError
        If fewer than 2 normal rows are given.
    """

    def __init__(self, name: str, X: np.ndarray, y: np.ndarray, seed: int):
        normals = np.asarray(X, dtype=np.float64)[np.asarray(y) == 0]
        if len(normals) < 2:
            raise ValueError(f"{name}: {len(normals)} normal rows; need 2")
        self.name, self.seed = name, int(seed)
        n_normals, self.n_anomalies = sizes(len(normals))
        pick = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        if len(normals) > n_normals:
            normals = normals[np.sort(pick.choice(len(normals), n_normals,
                                                  replace=False))]
        self.normals = normals
        self.low = normals.min(axis=0)
        span = normals.max(axis=0) - self.low
        self.varying = span > 0
        self.span = np.where(self.varying, span, 1.0)
        self._mixture = None

    def _to_raw(self, Z: np.ndarray) -> np.ndarray:
        """Map rows of the varying features on the [0, 1] scale to raw rows."""
        out = np.tile(self.low, (len(Z), 1))
        out[:, self.varying] = (Z * self.span[self.varying]
                                + self.low[self.varying])
        return out

    def mixture(self):
        """Return the Gaussian mixture of the normals (fitted once)."""
        if self._mixture is None:
            Z = ((self.normals - self.low) / self.span)[:, self.varying]
            self._mixture = _fit_mixture(Z, self.seed)
        return self._mixture

    def make(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Make the synthetic set of one kind.

        Parameters
        ----------
        kind : str
            One of :data:`KINDS`.

        Returns
        -------
        X : ndarray of shape (n_normals + n_anomalies, n_features), float64
            Normal rows first, then the anomalies, raw units.
        y : ndarray of shape (n_normals + n_anomalies,), int64
            0 for normal rows, 1 for anomalies.

        Raises
        ------
        ValueError
            If ``kind`` is not one of :data:`KINDS`.
        """
        rng = kind_seed(self.name, kind, self.seed)
        n_norm, n_anom = len(self.normals), self.n_anomalies
        if kind == "dependency" or not self.varying.any():
            normals = self.normals
            columns = [rng.choice(normals[:, j], size=n_anom)
                       for j in range(normals.shape[1])]
            anomalies = np.column_stack(columns)
        else:
            gm = self.mixture()
            means, covs, weights = gm.means_, gm.covariances_, gm.weights_
            Zn = _sample_mixture(means, covs, weights, n_norm, rng)
            if kind == "local":
                Za = _sample_mixture(means, ALPHA * covs, weights, n_anom, rng)
            elif kind == "cluster":
                Za = _sample_mixture(ALPHA * means, covs, weights, n_anom, rng)
            else:  # global
                low = Zn.min(axis=0) * GLOBAL_FACTOR
                high = Zn.max(axis=0) * GLOBAL_FACTOR
                Za = rng.uniform(low, high, size=(n_anom, Zn.shape[1]))
            normals, anomalies = self._to_raw(Zn), self._to_raw(Za)
        X = np.ascontiguousarray(np.vstack([normals, anomalies]))
        y = np.r_[np.zeros(n_norm, np.int64), np.ones(n_anom, np.int64)]
        return X, y
