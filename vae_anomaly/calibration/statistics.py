"""The drift check's null distributions as survival functions in plain ``math`` and NumPy.

:mod:`vae_anomaly.calibration.drift` needs three p-values on every
``vae-detect score`` run. SciPy has them, but importing ``scipy.stats`` takes
about half a second, longer than scoring a 5,000-row file, so they are
computed here from published formulas. Each function names the SciPy
function it agrees with. ``tests/calibration/test_statistics.py`` checks the
agreement to a relative 1e-9, down to 1e-300, wherever SciPy's own value is
that accurate.

``beta_binomial_sf``
    The exact tail sum of the beta-binomial mass function. SciPy sums the
    other side and subtracts it from 1, which is right only to about 1e-10
    absolute (its terms come from differences of log-beta functions); ours
    match rational arithmetic to a relative 1e-12, however small.
``kolmogorov_sf``
    The distribution of the one-sample two-sided Kolmogorov-Smirnov distance
    ``D_n``, as ``scipy.stats.kstwo``. Simard & L'Ecuyer (2011) choose among
    exact formulas and one asymptotic series.
``chi2_sf``, ``pearson_chi2``
    Chi-square with whole degrees of freedom, in closed form (Abramowitz &
    Stegun 26.4.4 and 26.4.5), and Pearson's test of homogeneity.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["beta_binomial_sf", "chi2_sf", "kolmogorov_sf", "pearson_chi2"]

_BLOCK = 65536  # terms of a tail summed at a time: bounded memory whatever the batch size
_NEGLIGIBLE = 100.0  # a decreasing tail's remaining terms below e**-100 of the sum: under 2**-53 of it
_LN2 = math.log(2.0)


def _clip(p: float) -> float:
    return min(max(p, 0.0), 1.0)


# --- beta-binomial ------------------------------------------------------------------------------------


def _log_comb(top: int, r: int) -> float:
    """log C(top, r) for a small ``r``, as the exact sum (``math.fsum``) of ``r`` logs of ratios near 1."""
    i = np.arange(1, r + 1, dtype=np.float64)
    return math.fsum(np.log((top - r + i) / i))


def _log_ratios(j: np.ndarray, n: int, a: int, b: int) -> np.ndarray:
    """log(pmf(j + 1) / pmf(j)) of beta-binomial(n, a, b), as log1p of an exact whole-number difference."""
    diff = (a - 1) * (n - j) - (b - 1) * (j + 1)  # (n-j)(j+a) - (j+1)(n-j-1+b), in int64
    return np.log1p(diff / ((j + 1.0) * (n - j - 1.0 + b)))


def beta_binomial_sf(x: int, n: int, a: int, b: int) -> float:
    """P(X > x) for X ~ beta-binomial(n, a, b) with whole ``a, b >= 1``; ``scipy.stats.betabinom.sf``.

    The mass function is ``pmf(j) = C(j+a-1, j) C(n-j+b-1, n-j) / C(n+a+b-1, n)``
    (the Polya urn form of ``C(n, j) B(j+a, n-j+b) / B(a, b)``), and
    ``pmf(j + 1) / pmf(j) = (n-j)(j+a) / ((j+1)(n-j-1+b))`` decreases in ``j``
    when ``a, b >= 1``: the distribution is log-concave. The tail that starts
    past the mode is summed exactly, term by term from ``pmf`` at its start,
    with the ratios in blocks, until the terms left cannot reach the last bit.
    When ``x`` lies before the mode the result is ``1 - P(X <= x)``, summed the
    same way: then it is not small, and the subtraction costs one rounding.
    """
    if x < 0:
        return 1.0
    if x >= n:
        return 0.0
    if x + 1 == n or _log_ratios(np.array([x + 1]), n, a, b)[0] <= 0.0:
        return _clip(_tail(x + 1, n, a, b, +1))  # pmf decreases from x + 1 on
    return _clip(1.0 - _tail(x, n, a, b, -1))  # pmf decreases from x down to 0


def _step(j: np.ndarray, n: int, a: int, b: int, step: int) -> np.ndarray:
    """log(pmf(j + step) / pmf(j)) for an array ``j``."""
    return _log_ratios(j, n, a, b) if step > 0 else -_log_ratios(j - 1, n, a, b)


def _tail(start: int, n: int, a: int, b: int, step: int) -> float:
    """Sum of pmf(j) for j from ``start`` towards 0 (``step`` -1) or ``n`` (+1); pmf decreases that way."""
    log_first = (_log_comb(start + a - 1, a - 1) + _log_comb(n - start + b - 1, b - 1)
                 - _log_comb(n + a + b - 1, a + b - 1))
    end = n if step > 0 else 0
    total, offset, j0 = 0.0, 0.0, start  # offset: log(pmf(j0) / pmf(start))
    while True:
        j = j0 + step * np.arange(min(_BLOCK, abs(end - j0) + 1), dtype=np.int64)
        logs = offset + np.concatenate(([0.0], np.cumsum(_step(j[:-1], n, a, b, step))))
        total += float(np.exp(logs).sum())
        if j[-1] == end or logs[-1] < math.log(total) - _NEGLIGIBLE:
            return math.exp(log_first + math.log(total))
        offset = float(logs[-1] + _step(j[-1:], n, a, b, step)[0])
        j0 = int(j[-1]) + step


# --- chi-square -----------------------------------------------------------------------------------------


def chi2_sf(x: float, df: int) -> float:
    """P(chi-square with ``df`` degrees of freedom > x), whole ``df >= 1``; ``scipy.stats.chi2.sf``.

    Abramowitz & Stegun 26.4.5 (``df = 2k``) and 26.4.4 (``df = 2k + 1``),
    with ``h = x / 2``::

        Q = sum_{r < k} exp(-h) h**r / r!
        Q = erfc(sqrt(h)) + sum_{1 <= r <= k} exp(-h) h**(r - 1/2) / Gamma(r + 1/2)

    Every term is positive and taken as ``exp`` of its logarithm, so no
    factor underflows before the term itself does (below about 1e-308).
    """
    if x <= 0.0:
        return 1.0
    h = 0.5 * x
    k, odd = divmod(int(df), 2)
    log_h = math.log(h)
    if odd:
        terms = [math.erfc(math.sqrt(h))]
        terms += [math.exp(-h + (r - 0.5) * log_h - math.lgamma(r + 0.5)) for r in range(1, k + 1)]
    else:
        terms = [math.exp(-h + r * log_h - math.lgamma(r + 1.0)) for r in range(k)]
    return _clip(math.fsum(terms))


def pearson_chi2(table) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity of a table of counts with no empty row or column.

    Equals ``scipy.stats.chi2_contingency(table, correction=False)[:2]``: the
    statistic ``sum (o - e)**2 / e`` with ``e = row sum * column sum / total``,
    and its p-value on ``(rows - 1)(columns - 1)`` degrees of freedom (1.0
    when that is 0).

    Returns
    -------
    statistic, p_value : float
    """
    observed = np.asarray(table, dtype=np.float64)
    df = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    if df == 0:
        return 0.0, 1.0
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / observed.sum()
    statistic = math.fsum(((observed - expected) ** 2 / expected).ravel())
    return statistic, chi2_sf(statistic, df)


# --- Kolmogorov-Smirnov ---------------------------------------------------------------------------------


def kolmogorov_sf(d: float, n: int) -> float:
    """P(D_n >= d) of the two-sided one-sample Kolmogorov-Smirnov distance; ``scipy.stats.kstwo.sf``.

    The choice of method is Simard & L'Ecuyer's (2011), as SciPy makes it:

    * ``n d <= 1`` or ``n d >= n - 1``: Ruben & Gambino (1982), exact;
    * ``d >= 1/2``, or ``n d**2`` large (at least 4 for ``n <= 140``, 2.2
      above): ``2 P(D_n+ >= d)`` (Miller 1956), the one-sided probability
      exact (:func:`_smirnov_sf`), the two-sided one to within
      ``P(D_n+ >= d and D_n- >= d)``, which is 0 for ``d >= 1/2``;
    * ``n <= 140``, and above for small ``d`` (``n d**1.5 <= 1.4``, ``n <=
      100,000``): Durbin's matrix, exact (:func:`_durbin_cdf`; SciPy takes
      Pomeranz's exact recursion for ``0.754693 < n d**2 <= 4``, the same
      number to rounding: 3e-11 relative at most, measured);
    * otherwise Pelz & Good's (1976) asymptotic series (:func:`_pelz_good_cdf`).
    """
    if d >= 1.0:
        return 0.0
    t = n * d
    if t <= 0.5:
        return 1.0
    if t <= 1.0:
        return _clip(1.0 - math.exp(_log_factorial_over_power(n) + n * math.log(2.0 * t - 1.0)))
    if t >= n - 1:
        return _clip(2.0 * (1.0 - d) ** n)
    if d >= 0.5:
        return _clip(2.0 * _smirnov_sf(n, d))
    nd2 = t * d
    if n <= 140:
        return _clip(1.0 - _durbin_cdf(n, d) if nd2 <= 4.0 else 2.0 * _smirnov_sf(n, d))
    if nd2 >= 370.0:
        return 0.0
    if nd2 >= 2.2:
        return _clip(2.0 * _smirnov_sf(n, d))
    if n <= 100_000 and n * d**1.5 <= 1.4:
        return _clip(1.0 - _durbin_cdf(n, d))
    return _clip(1.0 - _pelz_good_cdf(n, d))


def _log_factorial_over_power(n: int) -> float:
    """log(n! / n**n): an exact sum of log(i / n) up to 1,000, Stirling's series (n log n cancelled) above."""
    if n <= 1000:
        return math.fsum(np.log(np.arange(1, n + 1) / n))
    return 0.5 * math.log(2.0 * math.pi * n) - n + 1.0 / (12 * n) - 1.0 / (360 * n**3) + 1.0 / (1260 * n**5)


def _smirnov_sf(n: int, d: float) -> float:
    """P(D_n+ >= d) for ``1/n < d < 1 - 1/n``; ``scipy.special.smirnov``.

    Birnbaum & Tingey (1951)::

        P = d sum_{v=0}^{floor(n (1 - d))} C(n, v) (d + v/n)**(v - 1) (1 - d - v/n)**(n - v)

    summed in logarithms, each term written as Loader (2000) writes binomial
    probabilities: Stirling's formula for ``C(n, v)`` with its ``n log n``
    parts cancelled by hand, so that no intermediate is much larger than the
    term's own logarithm::

        log term = log(n / (2 pi v (n - v))) / 2 + e(n) - e(v) - e(n - v)
                   + v log1p(n d / v) + (n - v) log1p(-n d / (n - v)) - log(d + v/n)

    ``e`` being Stirling's error (:func:`_stirling_error`). ``n d`` is split
    exactly into two doubles (Dekker 1971) so that ``n - v - n d`` keeps its
    precision near the end of the sum. As SciPy: 0 when ``2 n d**2`` exceeds
    708.4 (the result would be below 1e-307), and for ``n`` above 10**6 the
    approximation ``exp(-(6 n d + 1)**2 / (18 n))``.
    """
    if 2.0 * n * d * d > 708.3964185322641:
        return 0.0
    if n > 1_000_000:
        return math.exp(-((6.0 * n * d + 1.0) ** 2) / 18.0 / n)
    c = 134217729.0 * d  # Veltkamp's split: d_hi has 26 significant bits, so n * d_hi (n < 2**26) is exact
    d_hi = c - (c - d)
    nd_hi, nd_lo = n * d_hi, n * (d - d_hi)
    v = np.arange(1, math.floor(n - nd_hi - nd_lo) + 1, dtype=np.float64)
    rest = (n - v - nd_hi) - nd_lo  # n (1 - d - v/n), exact where it is small
    v, rest = v[rest > 0], rest[rest > 0]
    nd = nd_hi + nd_lo
    log_q = np.log(rest / (n - v))  # log1p(-n d / (n - v)), taken as such where that is the more precise
    far = rest > 0.5 * (n - v)
    log_q[far] = np.log1p(-nd / (n - v[far]))
    logs = (0.5 * np.log(n / (2.0 * math.pi * v * (n - v)))
            + _stirling_error(np.array([float(n)]))[0] - _stirling_error(v) - _stirling_error(n - v)
            + v * np.log1p(nd / v) + (n - v) * log_q - np.log((v + nd) / n))
    logs = np.append(logs, n * math.log1p(-d) - math.log(d))  # v = 0: (1 - d)**n / d
    top = float(logs.max())
    return math.exp(math.log(d) + top + math.log(float(np.exp(logs - top).sum())))


def _stirling_error(k: np.ndarray) -> np.ndarray:
    """log(k!) - (k + 1/2) log k + k - log(2 pi) / 2, whole ``k >= 1``: exact below 20, the series above."""
    out = np.empty_like(k)
    small = k < 20
    ks = k[small]
    out[small] = (np.array([math.lgamma(x + 1.0) for x in ks]) - (ks + 0.5) * np.log(ks) + ks
                  - 0.5 * math.log(2.0 * math.pi))
    r = 1.0 / k[~small]
    r2 = r * r
    out[~small] = r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))))
    return out


def _durbin_cdf(n: int, d: float) -> float:
    """P(D_n <= d) by Durbin's (1968) matrix, computed as Marsaglia, Tsang & Wang (2003).

    With ``d = (k - h) / n``, ``k`` whole and ``0 <= h < 1``, the probability
    is ``n! / n**n`` times entry ``(k, k)`` of ``H**n``, ``H`` the ``(2k - 1)``
    square matrix of their paper; the power is taken by squaring and kept
    in range by powers of 2 counted aside.
    """
    k = math.ceil(n * d)
    h = k - n * d
    m = 2 * k - 1
    j = np.arange(1, m + 1)
    inv_fact = np.exp(-np.array([math.lgamma(i + 1.0) for i in range(m + 1)]))  # 1/0! .. 1/m!
    first = (1.0 - h**j) * inv_fact[1:]  # first column, and reversed the last row
    first[-1] = (1.0 + max(2.0 * h - 1.0, 0.0) ** m - 2.0 * h**m) * inv_fact[m]
    rows, cols = np.indices((m, m))
    span = rows - cols + 1  # H[i, c] = 1 / (i - c + 1)! where i - c + 1 >= 0
    H = np.where(span >= 0, inv_fact[np.clip(span, 0, m)], 0.0)
    H[:, 0] = first
    H[-1, :] = first[::-1]
    power, power_exp, h_exp, left = np.eye(m), 0, 0, n
    while left > 0:
        if left % 2:
            power = power @ H
            power_exp += h_exp
        H = H @ H
        h_exp *= 2
        if abs(H[k - 1, k - 1]) > 2.0**128:
            H /= 2.0**128
            h_exp += 128
        left //= 2
    entry = float(power[k - 1, k - 1])
    if entry <= 0.0:
        return 0.0
    return math.exp(math.log(entry) + math.fsum([power_exp * _LN2, _log_factorial_over_power(n)]))


def _pelz_good_cdf(n: int, d: float) -> float:
    """P(D_n <= d) by Pelz & Good's (1976) series: Li-Chien's and Korolyuk's expansion
    ``K0(z) + K1(z)/sqrt(n) + K2(z)/n + K3(z)/n**1.5`` at ``z = d sqrt(n)``, through Jacobi's theta
    transform, as given by Simard & L'Ecuyer (2011, section 2.2)."""
    z = math.sqrt(n) * d
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    pi2, pi4, pi6 = math.pi**2, math.pi**4, math.pi**6
    log_q = -pi2 / 8.0 / z2
    if log_q < -708:
        return 0.0
    q = math.exp(log_q)
    k1a, k1b = -z2, pi2 / 4.0
    k2a, k2b, k2c = 6 * z6 + 2 * z4, (2 * z4 - 5 * z2) * pi2 / 4.0, pi4 * (1 - 2 * z2) / 16.0
    k3d, k3c = pi6 * (5 - 30 * z2) / 64.0, pi4 * (-60 * z2 + 212 * z4) / 16.0
    k3b, k3a = pi2 * (135 * z4 - 96 * z6) / 4.0, -30 * z6 - 90 * z**8
    sums = np.zeros(4)
    top = math.ceil(16.0 * z / math.pi)
    for k in range(top, 0, -1):  # Horner's scheme in q**8k over the odd integers 2k - 1
        m2 = (2 * k - 1) ** 2
        coeffs = np.array([1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m2**2,
                           k3a + k3b * m2 + k3c * m2**2 + k3d * m2**3])
        sums = sums * q ** (8 * k) + coeffs
    sums *= q * math.sqrt(2.0 * math.pi)
    sums /= np.array([z, 6 * z4, 72 * z**7, 6480 * z**10])
    q = math.exp(-pi2 / 2.0 / z2)  # the sums over all integers k
    ks = np.arange(top, 0, -1, dtype=np.float64)
    weights = ks**2 * q ** (ks**2)
    sums[2] += float(np.sum(weights)) * pi2 * math.sqrt(2.0 * math.pi) / (-36.0 * z3)
    sqrt3z = math.sqrt(3.0) * z
    sums[3] += float(np.sum((sqrt3z + math.pi * ks) * (sqrt3z - math.pi * ks) * weights)) * (
        pi2 * math.sqrt(2.0 * math.pi) / (216.0 * z6))
    sums /= np.power(float(n), np.arange(4) / 2.0)
    return float(sum(sums))
