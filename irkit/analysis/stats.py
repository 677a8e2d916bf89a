"""Small exact tests the analyses share (no SciPy needed for two numbers).

Why exact: incidents at low traffic have a handful of requests per minute, where normal
approximations of a proportion are badly wrong; the conditional binomial test below is exact for
any count and cheap.
"""

from __future__ import annotations

import math


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space from k upward."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    log_norm = math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(log_norm - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp
                        + (n - i) * lq)
        total += term
        if i > n * p and term < total * 1e-12:
            break
    return min(total, 1.0)


def rate_increase_pvalue(errors_before: int, n_before: int, errors_after: int,
                         n_after: int) -> float:
    """One-sided p-value that the error rate after exceeds the rate before.

    Conditional test: given the total number of errors, under "same rate" the errors after are
    Binomial(total, n_after / (n_before + n_after)).  Exact at any traffic level.
    """
    total = errors_before + errors_after
    if n_before <= 0 or n_after <= 0 or total == 0:
        return 1.0
    share = n_after / (n_before + n_after)
    return binom_sf(errors_after, total, share)


def rate_decrease_pvalue(errors_before: int, n_before: int, errors_after: int,
                         n_after: int) -> float:
    """One-sided p-value that the error rate after is below the rate before."""
    return rate_increase_pvalue(errors_after, n_after, errors_before, n_before)
