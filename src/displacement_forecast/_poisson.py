"""Exact Poisson (and NB2) draws by inversion of the CDF, compiled with numba.

For ``N ~ Poisson(lam)`` and ``u`` in ``(0, 1)`` the draw is the quantile ``k(u, lam)``, the smallest
``k`` with ``P(N <= k) >= u``. It uses one uniform whatever ``lam`` is, and it never decreases when
``lam`` grows: common random numbers across scenarios are exact, and a scenario with higher means
gives counts at least as high draw by draw. NB2 draws are the same with ``lam = mean * m`` for a
mean-one gamma multiplier ``m`` (:class:`displacement_forecast.distributions.CommonNoiseNB`).

The uniform is carried as a standard normal ``z`` with ``u = Phi(z)`` together with the smaller
tail ``w = Phi(-|z|)`` (so both tails keep full precision; the fast path below does not need
``w``, so samplers leave it to be computed from ``z`` only when a draw needs it). How ``k`` is
found:

1. ``lam >= 6`` and ``|z| <= 3`` (99.7% of such draws): the continuous quantile
   ``t = lam + z sqrt(lam) + sum_{m<11} P_m(z) lam^(-m/2)`` (``Q(t + 1, lam) = Phi(z)``, see
   ``experiments/derive_poisson_tables.py``) is within ``500 lam^-5.5`` of the exact one (checked
   on a dense grid with a margin of 10 or more, ``tests/test_distributions.py``), so when ``t`` is
   farther than that from an integer, ``k = ceil(t)`` exactly. Otherwise (rarely) go on:
2. ``lam < 30`` or a quantile below 39: the CDF (or the upper tail) summed term by term from 0.
3. otherwise the CDF and pmf at a start near the quantile from Temme's uniform asymptotic
   expansion of ``Q(k + 1, lam)`` (DLMF 8.12.3-8.12.9, five terms; error below 2e-13 for
   ``k >= 39``), then a walk with the pmf recurrence until the defining inequality holds.

Only floating-point rounding of the CDF (< 2e-13) separates the result from the true quantile,
i.e. the draws are exact in distribution. Nothing underflows: ``exp(-lam)`` is used only for
``lam < 700``.

The module also holds what every compiled sampler shares: splitting work over threads
(:func:`split_rows`, :func:`in_blocks`) and the log1p look-up tables (:func:`log1p_table`).
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable
from functools import partial

import numba
import numpy as np
from scipy.special import ndtri

FAST_FROM = 6.0  # lam from which the quantile expansion is tried
FAST_Z = 3.0  # ... for |z| up to this
FAST_ERROR = 500.0  # its error bound is FAST_ERROR * lam^-5.5 (plus rounding)
SEQUENTIAL_BELOW = 30.0  # otherwise, lam below this: sum the CDF from k = 0
TEMME_FROM = 40.0  # a = k + 1 from which Temme's expansion gives the CDF at the start
PARALLEL_FROM = 1 << 17  # cells from which a kernel is split over threads (see split_rows)
N_STREAMS = 16  # generators (blocks of draws) that in_blocks draws from in parallel
_SQRT_HALF = math.sqrt(0.5)
LOG1P_TABLE = 1 << 13  # log1p_table(n) holds log1p(i / n) for i / n below this
NB_SEQUENTIAL_BELOW = 10.0  # nb_cell: NB means below this are inverted directly, no gamma draw

# Taylor coefficients in eta of Temme's c_0 .. c_4 (experiments/derive_poisson_tables.py). All
# 24 terms for |eta| < 1; the first 14 are enough for |eta| < 0.4 (99% of the starts).
_TEMME = (
    (-0.3333333333333333, 0.08333333333333333, -0.014814814814814815, 0.0011574074074074073,
     0.0003527336860670194, -0.0001787551440329218, 3.919263178522438e-05, -2.185448510679992e-06,
     -1.85406221071516e-06, 8.296711340953087e-07, -1.7665952736826078e-07, 6.707853543401498e-09,
     1.0261809784240309e-08, -4.382036018453353e-09, 9.14769958223679e-10, -2.5514193994946248e-11,
     -5.830772132550426e-11, 2.4361948020667415e-11, -5.0276692801141755e-12, 1.1004392031956135e-13,
     3.371763262400985e-13, -1.392388722418162e-13, 2.8534893807047445e-14, -5.139111834242572e-16),
    (-0.001851851851851852, -0.003472222222222222, 0.0026455026455026454, -0.0009902263374485596,
     0.00020576131687242798, -4.018775720164609e-07, -1.8098550334489977e-05, 7.64916091608111e-06,
     -1.6120900894563446e-06, 4.647127802807434e-09, 1.378633446915721e-07, -5.752545603517705e-08,
     1.1951628599778148e-08, -1.7543241719747647e-11, -1.0091543710600413e-09, 4.162792991842583e-10,
     -8.56390702649298e-11, 6.067215101604758e-14, 7.1624989648114856e-12, -2.933186643771437e-12,
     5.996696365683689e-13, -2.1671786527323313e-16),
    (0.004133597883597883, -0.0026813271604938273, 0.0007716049382716049, 2.0093878600823047e-06,
     -0.0001073665322636516, 5.2923448829120125e-05, -1.2760635188618728e-05, 3.423578734096138e-08,
     1.3721957309062934e-06, -6.298992138380055e-07, 1.4280614206064242e-07, -2.0477098421990866e-10,
     -1.409252991086752e-08, 6.228974084922022e-09, -1.3670488396617114e-09, 9.428356159014678e-13,
     1.2872252400089318e-10, -5.5645956134363323e-11, 1.197593554636698e-11),
    (0.0006494341563786008, 0.00022947209362139917, -0.0004691894943952557, 0.00026772063206283885,
     -7.561801671883977e-05, -2.396505113867297e-07, 1.1082654115347302e-05, -5.6749528269915965e-06,
     1.4230900732435883e-06, -2.7861080291528143e-11, -1.6958404091930278e-07, 8.099464905388083e-08,
     -1.9111168485973655e-08, 2.3928620439808118e-12, 2.0620131815488797e-09, -9.460496661855133e-10,
     2.1541049775774907e-10),
    (-0.0008618882909167117, 0.0007840392217200666, -0.0002990724803031902, -1.4638452578843418e-06,
     6.641498215465122e-05, -3.968365047179435e-05, 1.1375726970678419e-05, 2.507497226237533e-10,
     -1.6954149536558305e-06, 8.907507532205309e-07, -2.292934834000805e-07, 2.956794137544049e-11,
     2.8865829742708783e-08, -1.4189739437803219e-08),
)

# Coefficients (ascending powers of z) of P_0 .. P_10 in the continuous quantile
# t = lam + z sqrt(lam) + sum_m P_m(z) lam^(-m/2) (experiments/derive_poisson_tables.py).
_QUANTILE = (
    (-0.6666666666666666, 0.0, 0.16666666666666666),
    (0.0, -0.027777777777777776, 0.0, -0.013888888888888888),
    (-0.019753086419753086, 0.0, 0.008641975308641974, 0.0, 0.003703703703703704),
    (0.0, 0.017258230452674897, 0.0, -0.003523662551440329, 0.0, -0.0013310185185185185),
    (-0.00062708210856359, 0.0, -0.01271066039584558, 0.0, 0.0016534391534391533, 0.0,
     0.0005584950029394474),
    (0.0, 0.001870271027935637, 0.0, 0.009008552294946327, 0.0, -0.0008460045969691032, 0.0,
     -0.0002580513300999412),
    (0.0015700277977369883, 0.0, -0.002850973646584072, 0.0, -0.00632503755960546, 0.0,
     0.00045877152873037645, 0.0, 0.00012737605330197924),
    (0.0, -0.0042706187623686625, 0.0, 0.003312034152779895, 0.0, 0.004434182107270777, 0.0,
     -0.0002592788640804973, 0.0, -6.598050961818484e-05),
    (0.00018182748430508764, 0.0, 0.007119571128055078, 0.0, -0.003338811179776416, 0.0,
     -0.0031105942564466416, 0.0, 0.0001510991101087885, 0.0, 3.545877482777345e-05),
    (0.0, -0.0009433901969181016, 0.0, -0.009440996594132717, 0.0, 0.003093751085057137, 0.0,
     0.0021845053222522216, 0.0, -9.015553057123253e-05, 0.0, -1.9616975974429186e-05),
    (-0.0006723570576566487, 0.0, 0.002486626646643528, 0.0, 0.01096016797843935, 0.0,
     -0.002714770745886147, 0.0, -0.0015357718606736372, 0.0, 5.480333590250778e-05, 0.0,
     1.1110503184882091e-05),
)
_C = np.zeros((len(_TEMME), max(len(c) for c in _TEMME)))
for _k, _c in enumerate(_TEMME):
    _C[_k, : len(_c)] = _c
_NEAR_TERMS = 14
# P_m has the parity of m: keep its nonzero coefficients, as a polynomial in z^2 (times z if m odd)
_Q = np.zeros((len(_QUANTILE), max(len(c) for c in _QUANTILE) // 2 + 1))
for _m, _p in enumerate(_QUANTILE):
    _Q[_m, : len(_p[_m % 2 :: 2])] = _p[_m % 2 :: 2]


@numba.njit(cache=True, inline="always")
def _series(eta, ia, C, n):
    """``sum_k c_k(eta) ia^k`` from the first ``n`` (even) Taylor terms: sum over ``k`` first,
    then ``eta`` in even and odd halves (short dependency chains)."""
    x2 = eta * eta
    e = 0.0
    o = 0.0
    for j in range(n - 2, -1, -2):
        e = e * x2 + (C[0, j] + ia * (C[1, j] + ia * (C[2, j] + ia * (C[3, j] + ia * C[4, j]))))
        o = o * x2 + (C[0, j + 1] + ia * (C[1, j + 1] + ia * (C[2, j + 1] + ia * (C[3, j + 1] + ia * C[4, j + 1]))))
    return e + eta * o


@numba.njit(cache=True)
def _temme(a, x, upper, C):
    """``(tail, pmf)`` for ``N ~ Poisson(x)``: ``P(N <= a-1) = Q(a, x)`` (``P(N > a-1)`` if
    ``upper``) and ``P(N = a-1)``; for ``a >= TEMME_FROM``."""
    m = (x - a) / a  # exact difference, one rounding
    if abs(m) < 0.01:  # m - log1p(m) without cancellation
        e2 = m * m * (0.5 + m * (-1.0 / 3 + m * (0.25 + m * (-0.2 + m * (1.0 / 6 + m * (
            -1.0 / 7 + m * (0.125 + m * (-1.0 / 9 + m * (0.1 + m * (-1.0 / 11 + m / 12))))))))))
    else:
        e2 = m - math.log1p(m)
    eta = math.sqrt(2.0 * e2)
    if m < 0.0:
        eta = -eta
    ia = 1.0 / a
    if abs(eta) < 1.0:
        s = _series(eta, ia, C, _NEAR_TERMS if abs(eta) < 0.4 else C.shape[1])
    else:  # closed forms; the c_3, c_4 terms are below 1e-15 here
        c0 = 1.0 / m - 1.0 / eta
        c1 = 1.0 / eta**3 - 1.0 / m**3 - 1.0 / m**2 - 1.0 / (12.0 * m)
        c2 = (-3.0 / eta**5 + (3.0 / m**4 + 2.0 / m**3 + 1.0 / (12.0 * m * m)) * (1.0 + m) / m
              + (1.0 / 288.0) / m)
        s = c0 + ia * (c1 + ia * c2)
    pref = math.exp(-a * e2) / math.sqrt(2.0 * math.pi * a)
    r = pref * s
    if upper:
        tail = 0.5 * math.erfc(-eta * math.sqrt(0.5 * a)) - r
    else:
        tail = 0.5 * math.erfc(eta * math.sqrt(0.5 * a)) + r
    # pmf = x^(a-1) e^-x / Gamma(a) = pref * (a/x) / Gamma*(a), 1/Gamma*(a) ~ sum (-1)^k g_k a^-k
    inv_gstar = 1.0 + ia * (-1.0 / 12.0 + ia * (1.0 / 288.0 + ia * (139.0 / 51840.0 + ia * (
        -571.0 / 2488320.0 + ia * (-163879.0 / 209018880.0)))))
    return tail, pref * (a / x) * inv_gstar


@numba.njit(cache=True, inline="always")
def _quantile_expansion(z, lam):
    """Continuous quantile ``t`` with ``Q(t + 1, lam) = Phi(z)`` (asymptotic in ``lam``), and
    ``1/sqrt(lam)``. Written out: 11 short polynomials evaluated side by side."""
    q = _Q
    sl = math.sqrt(lam)
    e = 1.0 / sl
    z2 = z * z
    z4 = z2 * z2
    p0 = q[0, 0] + z2 * q[0, 1]
    p1 = z * (q[1, 0] + z2 * q[1, 1])
    p2 = q[2, 0] + z2 * q[2, 1] + z4 * q[2, 2]
    p3 = z * (q[3, 0] + z2 * q[3, 1] + z4 * q[3, 2])
    p4 = q[4, 0] + z2 * q[4, 1] + z4 * (q[4, 2] + z2 * q[4, 3])
    p5 = z * (q[5, 0] + z2 * q[5, 1] + z4 * (q[5, 2] + z2 * q[5, 3]))
    p6 = q[6, 0] + z2 * q[6, 1] + z4 * (q[6, 2] + z2 * q[6, 3] + z4 * q[6, 4])
    p7 = z * (q[7, 0] + z2 * q[7, 1] + z4 * (q[7, 2] + z2 * q[7, 3] + z4 * q[7, 4]))
    p8 = q[8, 0] + z2 * q[8, 1] + z4 * (q[8, 2] + z2 * q[8, 3] + z4 * (q[8, 4] + z2 * q[8, 5]))
    p9 = z * (q[9, 0] + z2 * q[9, 1] + z4 * (q[9, 2] + z2 * q[9, 3] + z4 * (q[9, 4] + z2 * q[9, 5])))
    p10 = (q[10, 0] + z2 * q[10, 1]
           + z4 * (q[10, 2] + z2 * q[10, 3] + z4 * (q[10, 4] + z2 * q[10, 5] + z4 * q[10, 6])))
    e2 = e * e
    e4 = e2 * e2
    s = (p0 + e * p1 + e2 * (p2 + e * p3) + e4 * (p4 + e * p5 + e2 * (p6 + e * p7))
         + e4 * e4 * (p8 + e * p9 + e2 * p10))
    return lam + z * sl + s, e


@numba.njit(cache=True, inline="always")
def _sequential(w, lam, upper):
    """Sum the CDF (``upper``: the upper tail) from ``k = 0``; ``lam < 700``."""
    k = 0.0
    p = math.exp(-lam)
    if upper:  # smallest k with P(N > k) <= w
        tail = 1.0 - p
        while tail > w and p > 0.0:
            k += 1.0
            p *= lam / k
            tail -= p
    else:  # smallest k with P(N <= k) >= w
        tail = p
        while tail < w and p > 0.0:
            k += 1.0
            p *= lam / k
            tail += p
    return k


@numba.njit(cache=True)
def _ppf(z, w, lam, C):
    """Smallest ``k`` with ``P(N <= k) >= Phi(z)``, ``N ~ Poisson(lam)``; ``w = Phi(-|z|)``, or
    negative to have it computed from ``z`` if needed."""
    if not lam > 0.0:
        return 0.0 if lam <= 0.0 else np.nan  # lam <= 0 -> 0; NaN stays NaN
    if not lam < 1e300:
        return np.inf
    upper = z > 0.0  # then compare the upper tail P(N > k) with w = 1 - Phi(z)
    sl = math.sqrt(lam)
    if lam >= FAST_FROM and abs(z) <= FAST_Z:
        t, e = _quantile_expansion(z, lam)
        e2 = e * e
        bound = FAST_ERROR * e2 * e2 * e2 * e2 * e2 * e + 1e-12 * lam
        k = math.floor(t)
        f = t - k
        if bound < f < 1.0 - bound:
            return k + 1.0 if k >= 0.0 else 0.0
        k = math.floor(t + 0.5)
    else:
        k = math.floor(lam + z * sl + (z * z - 4.0) / 6.0 + 0.5)
    if w < 0.0:
        w = 0.5 * math.erfc(abs(z) * _SQRT_HALF)
    if not upper and not w > 0.0:
        return 0.0
    if lam < SEQUENTIAL_BELOW or (k + 1.0 < TEMME_FROM and lam < 700.0):
        return _sequential(w, lam, upper)
    if k + 1.0 < TEMME_FROM:
        k = TEMME_FROM - 1.0  # not reached for |z| < 25; the walk below still finds the quantile
    tail, p = _temme(k + 1.0, lam, upper, C)
    if upper:  # tail = P(N > k): want the smallest k with tail <= w
        if tail <= w:
            while k > 0.0 and tail + p <= w:
                tail += p
                p *= k / lam
                k -= 1.0
        else:
            while tail > w and p > 0.0:
                k += 1.0
                p *= lam / k
                tail -= p
    else:  # tail = P(N <= k): want the smallest k with tail >= w
        if tail >= w:
            while k > 0.0 and tail - p >= w:
                tail -= p
                p *= k / lam
                k -= 1.0
        else:
            while tail < w and p > 0.0:
                k += 1.0
                p *= lam / k
                tail += p
    return k


@numba.njit(cache=True, nogil=True)
def _ppf_flat(z, w, lam, out, C):
    for i in range(out.size):
        out[i] = _ppf(z[i], w[i], lam[i], C)


@numba.njit(cache=True, inline="always")
def deplete_row(left, shrink, hazard, mult, z, out, C):
    """One path of one region: ``out[h]`` has mean ``hazard[h]`` times the people still at risk
    (``left`` before the first period), capped at them, period after period; the people at risk
    shrink by ``shrink`` (1.0) times each count, or not at all (0.0: the region counts movements)."""
    for h in range(out.shape[0]):
        m = left * hazard[h]
        y = _ppf(z[h], -1.0, (m if m > 0.0 else 0.0) * mult[h], C)
        if y > left:
            y = left
        out[h] = y
        left -= shrink * y


@numba.njit(cache=True, nogil=True)
def _nb_depleting(hazard, at_risk, shrink, mult, z, out, C):
    """Counts with mean ``hazard * people still at risk``, capped at them, period after period."""
    for d in range(out.shape[0]):
        for r in range(out.shape[1]):
            deplete_row(at_risk[d, r], shrink[r], hazard[d, r], mult[d, r], z[d, r], out[d, r], C)


@numba.njit(cache=True, inline="always")
def _nb_small_ppf(m, a, u):
    """NB2 quantile of ``u`` (mean ``m`` > 0, dispersion ``a``) by summing the pmf from 0."""
    rr = 1.0 / a
    am = a * m
    q = am / (1.0 + am)
    p = math.exp(-rr * math.log1p(am))  # P(Y = 0) = (1 + alpha mean)^(-1/alpha)
    k = 0.0
    if u > 0.5:  # smallest k with P(Y > k) <= 1 - u
        v = 1.0 - u
        tail = 1.0 - p
        while tail > v and p > 0.0:
            p *= (k + rr) / (k + 1.0) * q
            k += 1.0
            tail -= p
    else:  # smallest k with P(Y <= k) >= u
        tail = p
        while tail < u and p > 0.0:
            p *= (k + rr) / (k + 1.0) * q
            k += 1.0
            tail += p
    return k


@numba.njit(cache=True, inline="always")
def nb_cell(g, m, a, C):
    """One NB2 draw (mean ``m``, dispersion ``a`` > 0) from the numba-compiled generator ``g``.

    Means below NB_SEQUENTIAL_BELOW: the NB quantile of one uniform (a short sum, no gamma
    draw); above: the Poisson quantile (:func:`_ppf`) of one normal at ``m`` times a mean-one
    gamma multiplier. The cheaper way for each mean (measured: 50-70 ns either side of the
    switch). ``m <= 0`` gives 0, NaN gives NaN. For sampling where no other path must see the
    same numbers (common random numbers need
    :class:`displacement_forecast.distributions.CommonNoiseNB`).
    """
    if not m > 0.0:
        return m if m != m else 0.0
    if m < NB_SEQUENTIAL_BELOW:
        return _nb_small_ppf(m, a, g.random())
    r = 1.0 / a
    return _ppf(g.standard_normal(), -1.0, m * (g.standard_gamma(r) / r), C)


@functools.cache
def log1p_table(n: int) -> np.ndarray:
    """``log1p(i / n)`` for ``i < LOG1P_TABLE * n`` (read-only): log1p of counts (``n = 1``), of
    half counts (``n = 2``, counts times scenario multipliers 0.5, 1.5, ...) or of the mean of
    ``n`` counts, by look-up in the compiled kernels (:func:`log1p_ratio`)."""
    t = np.log1p(np.arange(LOG1P_TABLE * n, dtype=float) / n)
    t.flags.writeable = False
    return t


@numba.njit(cache=True, inline="always")
def log1p_ratio(total, n, table):
    """``log1p(total / n)``: ``table[total]`` when ``total`` is a whole number inside
    ``table = log1p_table(n)``, computed otherwise."""
    if 0.0 <= total < table.size:
        i = int(total)
        if i == total:
            return table[i]
    return math.log1p(total / n)


def n_threads() -> int:
    """Threads for the compiled kernels: the CPUs this process may use, at most 4, and at most
    ``OMP_NUM_THREADS`` when set (joblib and Dask workers set it to avoid oversubscription)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        n = os.cpu_count() or 1
    try:
        n = min(n, int(os.environ.get("OMP_NUM_THREADS", n)))
    except ValueError:
        pass
    return max(1, min(n, 4))


def run_tasks(tasks: list[Callable[[], None]], n_cells: int) -> None:
    """Run ``tasks``, in parallel threads when the work (``n_cells``) is large: each thread takes
    the next task until none are left, so uneven tasks still share the threads out evenly. Tasks
    must release the GIL to gain from this (the ``nogil`` kernels here, NumPy's generators and
    ufuncs do) and write only their own part of the output; errors are re-raised here."""
    k = min(n_threads(), len(tasks)) if n_cells >= PARALLEL_FROM else 1
    if k <= 1:
        for task in tasks:
            task()
        return
    queue = iter(tasks)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            with lock:
                task = next(queue, None)
            if task is None:
                return
            try:
                task()
            except BaseException as e:  # re-raised in the calling thread
                errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(k - 1)]
    for t in threads:
        t.start()
    worker()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def split_rows(fn: Callable[[int, int], None], n_rows: int, n_cells: int) -> None:
    """Call ``fn(lo, hi)`` on consecutive blocks of rows covering ``range(n_rows)``, in parallel
    threads when the work is large (:func:`run_tasks`). The result does not depend on the number
    of threads as long as each row's result depends only on that row."""
    if n_cells < PARALLEL_FROM or n_threads() == 1 or n_rows < 2:
        fn(0, n_rows)
        return
    n = min(4 * n_threads(), n_rows)  # a few blocks per thread even out uneven rows
    edges = [n_rows * i // n for i in range(n + 1)]
    run_tasks([partial(fn, lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True) if lo < hi], n_cells)


def in_blocks(rng: np.random.Generator, n_rows: int, n_cells: int,
              fn: Callable[[np.random.Generator, int, int], None]) -> None:
    """Call ``fn(g, lo, hi)`` on N_STREAMS fixed blocks of rows, each with its own generator
    ``g`` seeded from ``rng`` (which advances by one fixed call), in parallel threads when the
    work is large (:func:`run_tasks`; ``fn`` must release the GIL, as NumPy's generators and the
    ``nogil`` kernels do). The numbers do not depend on the number of threads."""
    seeds = rng.integers(0, np.iinfo(np.int64).max, size=N_STREAMS)
    edges = [n_rows * i // N_STREAMS for i in range(N_STREAMS + 1)]
    run_tasks([partial(fn, np.random.default_rng(seed), lo, hi)
               for seed, lo, hi in zip(seeds, edges[:-1], edges[1:], strict=True) if lo < hi], n_cells)


def nb_randomness(rng: np.random.Generator, k: np.ndarray,
                  shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The randomness of one NB2 draw per cell of ``(D, R, H)``: a mean-one gamma multiplier
    (gamma shape ``k`` = 1/alpha, ``(D, R)``) and a standard normal ``z`` (the uniform ``Phi(z)``),
    drawn in blocks of draws (:func:`in_blocks`)."""
    D, R, H = shape
    # One shape per draw: NumPy draws a row at a time faster than element by element.
    per_row = R * H >= 64 and bool((k == k[:, :1]).all())
    mult, z = np.empty(shape), np.empty(shape)

    def block(g: np.random.Generator, lo: int, hi: int) -> None:
        if per_row:
            for d in range(lo, hi):
                g.standard_gamma(k[d, 0], out=mult[d])
        else:
            mult[lo:hi] = g.standard_gamma(np.broadcast_to(k[lo:hi, :, None], (hi - lo, R, H)))
        mult[lo:hi] /= k[lo:hi, :, None]
        g.standard_normal(out=z[lo:hi])

    in_blocks(rng, D, mult.size, block)
    return mult, z


def poisson_ppf(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson quantiles: the smallest ``k`` with ``P(N <= k) >= u``, ``N ~ Poisson(lam)``.

    ``u`` in ``[0, 1)`` and ``lam`` broadcast together; ``lam <= 0`` gives 0, NaN gives NaN.
    """
    u, lam = np.broadcast_arrays(np.asarray(u, dtype=float), np.asarray(lam, dtype=float))
    u = np.ascontiguousarray(u).ravel()
    out = np.empty(u.shape)
    _ppf_flat(ndtri(u), np.where(u <= 0.5, u, 1.0 - u), np.ascontiguousarray(lam).ravel(), out, _C)
    return out.reshape(lam.shape)


def poisson_ppf_z(z: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson quantiles of ``Phi(z)`` at means ``lam`` (same shape; ``lam <= 0`` or NaN gives 0)."""
    lam = np.where(lam > 0.0, lam, 0.0)
    z = np.ascontiguousarray(z, dtype=float).ravel()
    out = np.empty(z.shape)
    _ppf_flat(z, np.full(z.shape, -1.0), lam.ravel(), out, _C)  # w < 0: computed where needed
    return out.reshape(lam.shape)


def depletion_share(depletes: np.ndarray | None, n_regions: int) -> np.ndarray:
    """``(R,)`` floats: 1.0 where a region's people at risk shrink by its counts, 0.0 where they do
    not (its counts are movements); all 1.0 when ``depletes`` is None."""
    if depletes is None:
        return np.ones(n_regions)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(depletes, dtype=float), (n_regions,)))


def nb_depleting(hazard: np.ndarray, at_risk: np.ndarray, mult: np.ndarray, z: np.ndarray,
                 depletes: np.ndarray | None = None) -> np.ndarray:
    """``(D, R, H)`` counts whose mean is ``hazard`` times the people still at risk (``(D, R)``);
    regions where ``depletes`` (``(R,)`` bool; all when None) is False keep them all."""
    hazard = np.ascontiguousarray(hazard, dtype=float)
    at_risk = np.ascontiguousarray(at_risk, dtype=float)
    shrink = depletion_share(depletes, hazard.shape[1])
    out = np.empty(hazard.shape)

    def rows(lo: int, hi: int) -> None:
        _nb_depleting(hazard[lo:hi], at_risk[lo:hi], shrink, mult[lo:hi], z[lo:hi], out[lo:hi], _C)

    split_rows(rows, out.shape[0], out.size)
    return out
