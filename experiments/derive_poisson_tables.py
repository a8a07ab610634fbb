"""Derive the coefficient tables of ``displacement_forecast._poisson`` in exact rational arithmetic.

    python experiments/derive_poisson_tables.py     # prints both tables as Python source (~15 s)

Two tables, both from Temme's uniform asymptotic expansion of the incomplete gamma function
(DLMF 8.12.3-8.12.9), which gives the Poisson CDF through ``P(N <= k) = Q(k + 1, lam)``:

``temme_coefficients``
    Taylor coefficients in ``eta`` of ``c_0(eta) .. c_4(eta)`` in
    ``Q(a, x) = erfc(eta sqrt(a/2)) / 2 + exp(-a eta^2/2) / sqrt(2 pi a) * sum_k c_k(eta) a^-k``.
    ``c_0 = 1/mu - 1/eta`` and ``c_k = c_{k-1}'(eta)/eta + (-1)^k g_k / mu`` with ``mu = x/a - 1``,
    ``eta = sign(mu) sqrt(2 (mu - ln(1 + mu)))`` and ``g_k`` the Stirling coefficients of
    ``Gamma*(a)``; ``mu(eta)`` by Lagrange inversion.

``quantile_expansion``
    The continuous Poisson quantile ``t(z, lam)``, defined by ``Q(t + 1, lam) = Phi(z)`` (so the
    discrete quantile for ``u = Phi(z)`` is ``ceil(t)``), as
    ``t = lam + z sqrt(lam) + sum_m P_m(z) lam^(-m/2)`` with polynomials ``P_m``. Derived by
    writing ``a = t + 1 = lam + sqrt(lam) w + 1`` and expanding everything in
    ``e = 1/sqrt(lam)`` with coefficients polynomial in ``w``: ``zeta = -eta sqrt(a)`` is the
    normal deviate of the leading term, and ``d = z - zeta`` solves
    ``int_0^d exp(-zeta s - s^2/2) ds = sum_k c_k(eta) a^-k / sqrt(a)``, i.e.
    ``sum_n (-1)^(n-1) He_(n-1)(zeta) d^n / n! = ...`` (Hermite polynomials); then ``z(w)`` is
    inverted to ``w(z)``. ``P_0 = (z^2 - 4)/6`` is the continuity-corrected Cornish-Fisher term.

``tests/test_distributions.py`` checks the module's tables against these functions (slow test)
and, independently of this derivation, the numbers the module computes against SciPy.
"""

from __future__ import annotations

from fractions import Fraction as Fr

# Stirling series of Gamma*(a) = Gamma(a) / (sqrt(2 pi) a^(a-1/2) e^-a) ~ sum g_k a^-k (DLMF 5.11.3)
STIRLING = (Fr(1), Fr(1, 12), Fr(1, 288), Fr(-139, 51840), Fr(-571, 2488320), Fr(163879, 209018880))


def _power(a: list[Fr], p: Fr, n: int) -> list[Fr]:
    """``a(x)^p`` to ``n`` terms for a series with ``a[0] == 1`` (J.C.P. Miller's recurrence)."""
    b = [Fr(0)] * n
    b[0] = Fr(1)
    for k in range(1, n):
        b[k] = sum((((p + 1) * j - k) * a[j] * b[k - j] for j in range(1, min(k, len(a) - 1) + 1)), Fr(0)) / k
    return b


def _temme_series(n_orders: int, n_terms: int) -> tuple[list[list[Fr]], list[Fr]]:
    """Exact Taylor coefficients of ``c_k(eta)``, ``k < n_orders``, and of ``eta(mu)``."""
    if n_orders > len(STIRLING):
        raise ValueError(f"at most {len(STIRLING)} orders")
    M = n_terms + 2 * n_orders + 2
    h = [Fr(2 * (-1) ** n, n + 2) for n in range(M + 1)]  # h(mu) = 2 (mu - ln(1+mu)) / mu^2
    m = [Fr(0)] + [_power(h, Fr(-n, 2), n)[n - 1] / n for n in range(1, M + 1)]  # mu(eta), Lagrange
    t = _power([m[j + 1] for j in range(M)], Fr(-1), M)  # 1/mu = sum_j t[j] eta^(j-1)
    c = [t[j + 1] for j in range(M - 1)]
    out = [c]
    for k in range(1, n_orders):
        sign = (-1) ** k
        if c[1] + sign * STIRLING[k] * t[0] != 0:  # the 1/eta poles must cancel
            raise ArithmeticError("Temme recursion does not cancel its pole")
        c = [(j + 2) * c[j + 2] + sign * STIRLING[k] * t[j + 1] for j in range(len(c) - 2)]
        out.append(c)
    eta_of_mu = [Fr(0)] + _power(h, Fr(1, 2), M)[: M - 1]  # eta = mu sqrt(h(mu))
    return [cc[:n_terms] for cc in out], eta_of_mu


def temme_coefficients(n_orders: int = 5, n_terms: int = 24) -> list[list[float]]:
    """Taylor coefficients in ``eta`` of Temme's ``c_k(eta)``, ``k < n_orders``."""
    return [[float(x) for x in c] for c in _temme_series(n_orders, n_terms)[0]]


# -- series in e whose coefficients are polynomials in one variable (lists of Fractions) ---------
def _padd(a, b):
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def _pmul(a, b):
    if not a or not b:
        return []
    r = [Fr(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                r[i + j] += x * y
    return r


class _Series:
    def __init__(self, n: int):
        self.n = n

    def const(self, p):
        return [list(p)] + [[] for _ in range(self.n)]

    def add(self, A, B):
        return [_padd(A[i], B[i]) for i in range(self.n + 1)]

    def scale(self, A, c):
        return [[x * c for x in A[i]] for i in range(self.n + 1)]

    def mul(self, A, B):
        R = [[] for _ in range(self.n + 1)]
        for i in range(self.n + 1):
            if A[i]:
                for j in range(self.n + 1 - i):
                    if B[j]:
                        R[i + j] = _padd(R[i + j], _pmul(A[i], B[j]))
        return R

    def shift(self, A, k):  # times e^k
        R = [[] for _ in range(self.n + 1)]
        for i in range(self.n + 1):
            if 0 <= i + k <= self.n:
                R[i + k] = A[i]
            elif i + k < 0 and any(A[i]):
                raise ArithmeticError("a nonzero term would be shifted out")
        return R

    def compose(self, coefs, X):  # sum_j coefs[j] X^j
        R, P = self.const([]), self.const([Fr(1)])
        for c in coefs:
            if c:
                R = self.add(R, self.scale(P, c))
            P = self.mul(P, X)
        return R

    def pow1p(self, X, p):  # (1 + X)^p for X = O(e)
        coefs, c = [], Fr(1)
        for j in range(self.n + 1):
            coefs.append(c)
            c = c * (p - j) / (j + 1)
        return self.compose(coefs, X)

    def substitute(self, A, X):  # A(e, w) with w := X(e, z)
        R = self.const([])
        for n in range(self.n + 1):
            if A[n]:
                R = self.add(R, self.shift(self.compose(A[n], X), n))
        return R


def quantile_expansion(n_orders: int = 11) -> list[list[float]]:
    """Coefficients (ascending powers of ``z``) of ``P_0 .. P_{n_orders-1}``."""
    N = n_orders + 1
    S = _Series(N)
    K = (N - 1) // 2 + 1  # c_k first matters at order e^(2k+1)
    C, eta_of_mu = _temme_series(K, N + 2)
    w = [Fr(0), Fr(1)]
    X = S.const([])
    X[1], X[2] = w, [Fr(1)]  # a lam^-1 - 1 = e w + e^2
    inv_a = S.pow1p(X, Fr(-1))
    mu = S.scale(S.mul(X, inv_a), -1)  # lam / a - 1
    eta = S.compose(eta_of_mu[: N + 2], mu)
    zeta = S.scale(S.mul(S.shift(eta, -1), S.pow1p(X, Fr(1, 2))), -1)  # -eta sqrt(a)
    ssum, ak = S.const([]), S.const([Fr(1)])  # sum_k c_k(eta) a^-k, a^-1 = e^2 inv_a
    for k in range(K):
        ssum = S.add(ssum, S.shift(S.mul(S.compose(C[k], eta), ak), 2 * k))
        ak = S.mul(ak, inv_a)
    rhs = S.shift(S.mul(ssum, S.pow1p(X, Fr(-1, 2))), 1)  # ... / sqrt(a)
    he = [S.const([Fr(1)]), zeta]
    for n in range(1, N + 2):
        he.append(S.add(S.mul(zeta, he[n]), S.scale(he[n - 1], -n)))
    d = rhs
    for _ in range(N + 1):  # fixed point: d = rhs - sum_{n>=2} (-1)^(n-1) He_{n-1} d^n / n!
        acc, dn, fact = rhs, d, Fr(1)
        for n in range(2, N + 2):
            dn, fact = S.mul(dn, d), fact * n
            acc = S.add(acc, S.scale(S.mul(he[n - 1], dn), Fr((-1) ** n) / fact))
        d = acc
    zw = S.add(zeta, d)  # z = w + sum_n e^n g_n(w)
    g = [[] if n == 0 else zw[n] for n in range(N + 1)]
    wz = S.const([Fr(0), Fr(1)])
    for _ in range(N + 1):  # invert: w = z - sum_n e^n g_n(w)
        wz = S.add(S.const([Fr(0), Fr(1)]), S.scale(S.substitute(g, wz), -1))
    out = []
    for m in range(n_orders):  # t = lam + sqrt(lam) w: P_m = coefficient of e^(m+1) in w
        p = list(wz[m + 1])
        while p and p[-1] == 0:
            p.pop()
        out.append([float(x) for x in p])
    return out


def main() -> None:
    print("_TEMME = (")
    for c in temme_coefficients():
        print("    (" + ", ".join(repr(x) for x in c) + "),")
    print(")")
    print("_QUANTILE = (")
    for p in quantile_expansion():
        print("    (" + ", ".join(repr(x) for x in p) + "),")
    print(")")


if __name__ == "__main__":
    main()
