"""NB2 regression with one intercept per group, fitted in time linear in the number of groups.

The model (NB2: variance ``mu + alpha * mu^2``)::

    log mu[i] = offset[i] + a[g[i]] + x[i] @ b,    y[i] ~ NB2(mu[i], alpha)

is what statsmodels' ``NegativeBinomial(loglike_method="nb2")`` fits when given one dummy column
per group; it then builds and inverts a dense ``(G + p + 1)``-square Hessian, which costs
``O(n G^2 + G^3)``. Here the same maximum-likelihood estimate is found by Newton's method on the
exact Hessian using its block structure: each observation belongs to one group, so the
group-by-group block is **diagonal**, and each Newton step eliminates the group intercepts
through the Schur complement of that block (block Gaussian elimination, e.g. Golub & Van Loan,
*Matrix Computations*, 4th ed., sec. 3.2.10; the same device as profiling fixed effects out of a
GLM, Greene, *Econometric Analysis*, sec. 17.7). Cost per step ``O(n q^2 + G q + q^3)`` with
``q = p + 1`` shared parameters, i.e. linear in the number of groups.

The covariance of the estimates (inverse of the observed information, as statsmodels'
``cov_params()``) is kept in the same block form: the shared block ``Sigma_ss`` (``q x q``), and
the group intercepts through their **conditional** distribution given the shared parameters,
which for a Gaussian with precision ``[[A, B], [B', E]]`` and diagonal ``A`` is::

    a | s  ~  N(a_hat - W (s - s_hat), diag(1 / A)),    W = A^{-1} B.

So a parameter draw is ``s`` from ``N(s_hat, Sigma_ss)`` then each intercept independently given
``s``: exactly the joint normal, in ``O(G q)`` per draw, and one group's intercept uses only its
own normal deviate (so draws for a subset of groups do not depend on the others').
:meth:`NB2Fit.cov_dense` rebuilds the full matrix for small problems.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln, polygamma, psi

LOG_ALPHA_MIN = np.log(1e-8)  # dispersion floor (Poisson limit) of the search
LOG_ALPHA_MAX = np.log(1e4)


@dataclass
class NB2Fit:
    """Result of :func:`fit_nb2_groups`. Shapes: ``G`` groups, ``p`` shared coefficients, ``q = p + 1``."""

    a: np.ndarray  #: group intercepts ``(G,)``
    b: np.ndarray  #: shared coefficients ``(p,)``
    alpha: float  #: NB2 dispersion
    loglik: float
    converged: bool
    n_iter: int
    mu: np.ndarray  #: fitted means ``(n,)``
    cov_shared: np.ndarray  #: covariance of ``(b, alpha)`` ``(q, q)``
    cond_var: np.ndarray  #: variance of each intercept given ``(b, alpha)`` ``(G,)``
    cond_slope: np.ndarray  #: ``W`` ``(G, q)``: ``E[a | s] = a_hat - W (s - s_hat)``

    @property
    def params(self) -> np.ndarray:
        """``(G + p + 1,)``: intercepts, shared coefficients, dispersion (statsmodels' order)."""
        return np.concatenate([self.a, self.b, [self.alpha]])

    @property
    def n_params(self) -> int:
        return len(self.a) + len(self.b) + 1

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    def region_cov_shared(self) -> np.ndarray:
        """Covariance of each intercept with the shared parameters ``(G, q)``."""
        return -self.cond_slope @ self.cov_shared

    def cov_dense(self) -> np.ndarray:
        """The full ``(G + q)``-square covariance, symmetric (for small problems: ``O(G^2)`` memory)."""
        G = len(self.a)
        cas = self.region_cov_shared()
        caa = np.diag(self.cond_var) + self.cond_slope @ self.cov_shared @ self.cond_slope.T
        cov = np.block([[caa, cas], [cas.T, self.cov_shared]])
        assert cov.shape == (G + len(self.b) + 1,) * 2
        return nearest_psd((cov + cov.T) / 2)


def nearest_psd(cov: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """``cov`` itself when it is positive semi-definite up to rounding (smallest eigenvalue >=
    ``-tol`` times the largest), else its nearest PSD matrix in the Frobenius norm: negative
    eigenvalues set to 0 (Higham 1988, *Linear Algebra Appl.* 103:103).

    A covariance assembled from blocks can come out indefinite beyond rounding; one whose
    largest eigenvalue is huge (a nearly unidentified parameter: 2e10 in ``nb-dl`` on the daily
    Ukraine panel) has rounding-level negative eigenvalues (-6e-6 there) that numpy's absolute
    test in ``multivariate_normal`` reports as "not positive-semidefinite" although they change
    no draw; :func:`draw_params` therefore skips numpy's test on matrices that passed this one."""
    s, u = np.linalg.eigh(cov)
    if s.min() >= -tol * max(abs(s.max()), 1.0):
        return cov
    out = (u * np.maximum(s, 0.0)) @ u.T
    return (out + out.T) / 2


def _nb2_terms(y, mu, alpha, need_hessian: bool = True):
    """Per observation: log-likelihood, d/d eta, d/d alpha and (optionally) the second derivatives
    ``(d2 eta, d eta d alpha, d2 alpha)`` for NB2 with ``eta = log mu``."""
    r = 1.0 / alpha
    amu = alpha * mu
    l1p = np.log1p(amu)
    ll = (gammaln(y + r) - gammaln(r) - gammaln(y + 1.0) - r * l1p
          + y * (np.log(alpha) + np.log(mu) - l1p))
    ll = np.where(y == 0, -r * l1p, ll)  # exact at y = 0 (avoids 0 * log 0 and gammaln cancellation)
    de = (y - mu) / (1.0 + amu)
    dig = psi(r) - psi(y + r)
    da = (dig + l1p) / alpha**2 + (y - mu) / (alpha * (1.0 + amu))
    if not need_hessian:
        return ll, de, da, None
    hee = -mu * (1.0 + alpha * y) / (1.0 + amu) ** 2
    hea = -(y - mu) * mu / (1.0 + amu) ** 2
    # d2/dr2 then the chain rule to alpha (r = 1/alpha): h_aa = h_rr / alpha^4 - 2 g_r... with g_r = -alpha^2 da
    hrr = polygamma(1, y + r) - polygamma(1, r) + mu / (r * (r + mu)) - (mu - y) / (r + mu) ** 2
    haa = hrr / alpha**4 - 2.0 * da / alpha
    return ll, de, da, (hee, hea, haa)


def _group_sum(g, w, G):
    return np.bincount(g, weights=w, minlength=G)


def _information(X, g, G, alpha, de, da, hess, scale_k: bool):
    """Negative Hessian in block form ``A`` ``(G,)``, ``B`` ``(G, q)``, ``E`` ``(q, q)`` and the
    gradient ``(ga, gs)``; with ``scale_k`` the last shared parameter is ``log alpha``."""
    hee, hea, haa = hess
    p = X.shape[1]
    q = p + 1
    A = _group_sum(g, -hee, G)
    B = np.empty((G, q))
    for j in range(p):
        B[:, j] = _group_sum(g, -hee * X[:, j], G)
    c = alpha if scale_k else 1.0
    B[:, p] = _group_sum(g, -hea, G) * c
    E = np.empty((q, q))
    E[:p, :p] = (X * (-hee)[:, None]).T @ X
    E[:p, p] = E[p, :p] = ((-hea) @ X) * c
    E[p, p] = -haa.sum() * c * c - (da.sum() * alpha if scale_k else 0.0)
    ga = _group_sum(g, de, G)
    gs = np.append(de @ X, da.sum() * c)
    return A, B, E, ga, gs


def _solve(A, B, E, ga, gs):
    """Solve ``[[diag(A), B], [B', E]] [da, ds] = [ga, gs]`` by the Schur complement of ``diag(A)``."""
    W = B / A[:, None]
    S = E - B.T @ W
    L = np.linalg.cholesky(S)  # LinAlgError when not positive definite
    rhs = gs - W.T @ ga
    ds = np.linalg.solve(L.T, np.linalg.solve(L, rhs))
    dg = (ga - B @ ds) / A
    return dg, ds, W, S


def fit_nb2_groups(y: np.ndarray, X: np.ndarray, g: np.ndarray, n_groups: int, offset: np.ndarray | None = None,
                   *, alpha0: float = 0.5, tol: float = 1e-10, maxiter: int = 200) -> NB2Fit:
    """Maximum-likelihood NB2 regression with one intercept per group.

    Parameters
    ----------
    y
        Counts ``(n,)``, finite and ``>= 0``.
    X
        Shared covariates ``(n, p)`` (no constant column: the group intercepts are the constant).
    g
        Group of each observation ``(n,)``, integers in ``[0, n_groups)``; every group should hold
        at least one observation (an empty group gets intercept 0 and infinite variance).
    n_groups
        ``G``.
    offset
        ``(n,)`` added to the linear predictor, or ``None``.
    alpha0
        Starting dispersion.
    tol
        Convergence when the Newton decrement (predicted gain in log-likelihood) is below it.
    maxiter
        Newton steps at most; :attr:`NB2Fit.converged` is False when reached.

    Returns
    -------
    NB2Fit
        Estimates, log-likelihood, fitted means and the covariance in block form (see the module).

    Raises
    ------
    ValueError
        On non-finite input or shapes that do not match.
    """
    y = np.asarray(y, dtype=float)
    X = np.ascontiguousarray(X, dtype=float)
    g = np.asarray(g, dtype=np.int64)
    n, p = X.shape
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    if y.shape != (n,) or g.shape != (n,) or off.shape != (n,):
        raise ValueError("y, g and offset must have one entry per row of X")
    if not (np.isfinite(y).all() and np.isfinite(X).all() and np.isfinite(off).all()):
        raise ValueError("non-finite values in y, X or offset")
    G = int(n_groups)
    # Start: b = 0, each intercept at its group's log rate (a tiny floor for all-zero groups).
    tot = _group_sum(g, y, G)
    expo = _group_sum(g, np.exp(off), G)
    a = np.log(np.maximum(tot, 0.1) / np.where(expo > 0, expo, 1.0))
    b = np.zeros(p)
    k = float(np.log(alpha0))

    def loglik(a, b, k):
        eta = off + a[g] + X @ b
        mu = np.exp(np.clip(eta, -700, 700))
        return _nb2_terms(y, mu, np.exp(k), need_hessian=False)[0].sum(), mu

    ll, mu = loglik(a, b, k)
    converged, n_iter = False, 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while n_iter < maxiter:
            n_iter += 1
            alpha = np.exp(k)
            _, de, da, hess = _nb2_terms(y, mu, alpha)
            A, B, E, ga, gs = _information(X, g, G, alpha, de, da, hess, scale_k=True)
            A = np.where(A > 0, A, 1e-12)
            lam = 0.0
            while True:  # Levenberg damping only if the Hessian is not negative definite here
                try:
                    dg, ds, _, _ = _solve(A + lam, B, E + lam * np.eye(p + 1), ga, gs)
                    break
                except np.linalg.LinAlgError:
                    lam = max(2 * lam, 1e-6 * (np.abs(np.diag(E)).max() + 1.0))
            decrement = float(ga @ dg + gs @ ds)
            t = 1.0
            while True:  # backtracking line search on the log-likelihood
                k_new = float(np.clip(k + t * ds[p], LOG_ALPHA_MIN, LOG_ALPHA_MAX))
                a_new, b_new = a + t * dg, b + t * ds[:p]
                ll_new, mu_new = loglik(a_new, b_new, k_new)
                if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                    break
                t /= 2
                if t < 1e-10:
                    a_new, b_new, k_new, ll_new, mu_new = a, b, k, ll, mu
                    break
            a, b, k, ll, mu = a_new, b_new, k_new, ll_new, mu_new
            if decrement < tol or t < 1e-10:
                converged = decrement < tol
                break
    alpha = float(np.exp(k))
    # Covariance: inverse of the observed information in statsmodels' parametrization (alpha itself).
    _, de, da, hess = _nb2_terms(y, mu, alpha)
    A, B, E, _, _ = _information(X, g, G, alpha, de, da, hess, scale_k=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        A = np.where(A > 0, A, np.nan)
        W = B / A[:, None]
        W = np.where(np.isfinite(W), W, 0.0)
        S = E - B.T @ np.nan_to_num(W)
        try:
            cov_s = np.linalg.inv(S)
        except np.linalg.LinAlgError:
            cov_s = np.full((p + 1, p + 1), np.nan)
    cov_s = (cov_s + cov_s.T) / 2
    cond_var = np.where(np.isfinite(A), 1.0 / A, np.inf)
    return NB2Fit(a=a, b=b, alpha=alpha, loglik=float(ll), converged=bool(converged), n_iter=n_iter, mu=mu,
                  cov_shared=cov_s, cond_var=cond_var, cond_slope=W)


def fit_statsmodels_reference(y: np.ndarray, X: np.ndarray, g: np.ndarray, n_groups: int,
                              offset: np.ndarray | None = None, *, polish: bool = True):
    """The same model fitted the way the toolkit did before (statsmodels, one dummy per group):
    ``(params, cov, result)``. For tests and benchmarks only: ``O(n G^2)`` time, ``O(n G)`` memory.

    ``polish`` finishes BFGS with Newton steps on statsmodels' analytic Hessian (the exact MLE);
    without it, BFGS as the models ran it (Newton only when BFGS reports no convergence).
    """
    import statsmodels.api as sm

    D = np.zeros((len(y), n_groups))
    D[np.arange(len(y)), g] = 1.0
    Xf = np.concatenate([D, X], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sm.NegativeBinomial(y, Xf, offset=offset, loglike_method="nb2")
        if polish:  # Newton from each group's log rate (no dependence on our fit); as before if that fails
            off = np.zeros(len(y)) if offset is None else offset
            rate = np.bincount(g, y, n_groups) / np.bincount(g, np.exp(off), n_groups)
            start_params = np.concatenate([np.log(np.maximum(rate, 1e-3)), np.zeros(X.shape[1]), [0.3]])
            res = model.fit(start_params=start_params, disp=0, maxiter=100, method="newton")
            if res.mle_retvals.get("converged", False) and np.isfinite(res.llf):
                return np.asarray(res.params), _sym(np.asarray(res.cov_params())), res
        start = sm.GLM(y, Xf, family=sm.families.Poisson(), offset=offset).fit()
        start_params = np.append(start.params, 0.3)
        res = model.fit(start_params=start_params, disp=0, maxiter=500, method="bfgs")
        if polish or not res.mle_retvals.get("converged", True):
            res = model.fit(start_params=res.params, disp=0, maxiter=200, method="newton")
    return np.asarray(res.params), _sym(np.asarray(res.cov_params())), res


def _sym(c: np.ndarray) -> np.ndarray:
    return (c + c.T) / 2


#: Fits with at most this many parameters also keep the dense covariance (``cov_``) and draw
#: parameters from it as before (``multivariate_normal(..., method="eigh")``, the same random
#: numbers as earlier versions); larger fits draw from the blocks (:func:`draw_from_blocks`).
DENSE_COV_MAX = 1000


def cov_blocks(fit: NB2Fit) -> dict[str, np.ndarray]:
    """The covariance in block form as plain arrays (what :func:`draw_from_blocks` needs)."""
    return {"shared": fit.cov_shared, "cond_var": fit.cond_var, "cond_slope": fit.cond_slope}


def draw_from_blocks(params: np.ndarray, blocks: dict[str, np.ndarray], n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``(n, G + q)`` draws from the normal approximation with covariance in block form.

    First the ``q`` shared parameters (``params[G:]``) from ``N(., blocks["shared"])``, then one
    standard normal per draw and group for the intercepts given them (see the module): the same
    distribution as a draw from the dense covariance, in ``O(n G q)``.
    """
    G = len(blocks["cond_var"])
    s = rng.multivariate_normal(params[G:], blocks["shared"], size=n, method="eigh")
    z = rng.standard_normal((n, G))
    return np.concatenate([conditional_intercepts(params, blocks, s, z), s], axis=1)


def draw_params(fitted: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, n_params)`` parameter draws of a fitted model with ``params_``, ``cov_`` and
    ``cov_blocks_`` (``nb-dl``, the driver autoregression): from the dense covariance ``cov_``
    when the fit kept it (at most :data:`DENSE_COV_MAX` parameters, and fits saved before the
    blocks existed, which have no ``cov_blocks_``; the same random numbers as earlier versions),
    else from the blocks (:func:`draw_from_blocks`)."""
    if fitted.cov_ is not None:
        # checked by nearest_psd when the fit built it (numpy's absolute test would flag rounding)
        return rng.multivariate_normal(fitted.params_, fitted.cov_, size=n, method="eigh", check_valid="ignore")
    return draw_from_blocks(fitted.params_, fitted.cov_blocks_, n, rng)


def conditional_intercepts(params: np.ndarray, blocks: dict[str, np.ndarray], shared: np.ndarray,
                           z: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Intercept draws ``(n, len(groups))`` given draws ``shared`` ``(n, q)`` of the shared
    parameters and standard normals ``z`` ``(n, len(groups))``: the conditional normal of the
    block form, ``a_hat - (s - s_hat) @ cond_slope.T + sqrt(cond_var) * z`` (``groups``: the
    fitted groups wanted, default all)."""
    G = len(blocks["cond_var"])
    pos = np.arange(G) if groups is None else np.asarray(groups)
    return (params[pos][None, :] - (shared - params[G:]) @ blocks["cond_slope"][pos].T
            + np.sqrt(blocks["cond_var"][pos])[None, :] * z)
