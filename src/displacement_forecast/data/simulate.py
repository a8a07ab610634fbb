"""Seeded simulator of a NW-Syria-like conflict: strikes, warplane flights and displacement.

The data are synthetic. Thirteen regions named after sub-districts of Idlib and western Aleppo,
with made-up populations summing to 4.0 million (close to the ~4 million people the UN counted in
NW Syria in early 2020), are hit by air strikes whose weekly counts follow a negative-binomial
process with an AR(1) log-intensity and bursts of escalation. A final escalation over the last
nine weeks in the south mimics the Nov 2019 - Jan 2020 offensive, which displaced ~382,000 people
in two months.

Displacement model (the truth the forecasting models try to recover)
--------------------------------------------------------------------
For region r and week t, with ``P[r,t]`` the people not yet displaced::

    x_s[r,t] = sum_{l=0}^{L-1} decay**l * log1p(strikes[r,t-l])
    x_f[r,t] = sum_{l=0}^{L-1} decay**l * log1p(flights[r,t-l])
    mean[r,t] = P[r,t] * exp(alpha[r] + beta_strikes * x_s + beta_flights * x_f)
    displaced[r,t] ~ NegBin(mean, var = mean + nb_alpha * mean**2), at most P[r,t]
    P[r,t+1] = P[r,t] - displaced[r,t]

``alpha[r] ~ Normal(mu_alpha, sigma_alpha)`` (region effects drawn once per seed). People who
fled are removed from those at risk, so a region cannot empty twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..distributions import draw_nb
from .regions import RegionTable, regions_from_frame

# code, name, zone (parent), population (synthetic, rounded)
NW_SYRIA_REGIONS: tuple[tuple[str, str, str, int], ...] = (
    ("NWS01", "Maarrat An Nu'man", "South Idlib", 420_000),
    ("NWS02", "Khan Shaykhun", "South Idlib", 150_000),
    ("NWS03", "Kafr Nobol", "South Idlib", 180_000),
    ("NWS04", "Saraqab", "South Idlib", 230_000),
    ("NWS05", "Ariha", "South Idlib", 280_000),
    ("NWS06", "Ehsem", "South Idlib", 120_000),
    ("NWS07", "Idleb", "Central Idlib", 480_000),
    ("NWS08", "Jisr Ash-Shugur", "Central Idlib", 260_000),
    ("NWS09", "Harim", "North Idlib", 350_000),
    ("NWS10", "Dana", "North Idlib", 700_000),
    ("NWS11", "Salqin", "North Idlib", 180_000),
    ("NWS12", "Atareb", "West Aleppo", 300_000),
    ("NWS13", "Daret Azza", "West Aleppo", 350_000),
)

# Typical strikes per week before escalation, by zone.
_ZONE_STRIKE_BASE = {"South Idlib": 3.0, "Central Idlib": 1.5, "North Idlib": 0.4, "West Aleppo": 2.0}
# The final offensive: multiplier on strike intensity over the last nine weeks, by zone.
_FINAL_ESCALATION = {"South Idlib": 12.0, "Central Idlib": 3.0, "North Idlib": 1.5, "West Aleppo": 6.0}


@dataclass(frozen=True)
class TrueParameters:
    """Parameters the data were generated with (for recovery and coverage tests)."""

    mu_alpha: float = float(np.log(5e-6))
    sigma_alpha: float = 0.35
    beta_strikes: float = 1.0
    beta_flights: float = 0.1
    lag_decay: float = 0.55
    n_lags: int = 8
    nb_alpha: float = 0.12
    strike_ar: float = 0.75
    strike_sd: float = 0.25
    strike_nb_alpha: float = 0.3
    flights_per_strike: float = 2.5
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def lag_weights(self) -> np.ndarray:
        return self.lag_decay ** np.arange(self.n_lags)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["alpha"] = np.asarray(self.alpha).tolist()
        return d


@dataclass
class SimulatedData:
    """A simulated panel with everything needed to check a model against the truth."""

    observations: pd.DataFrame
    regions: RegionTable
    truth: TrueParameters
    escalations: pd.DataFrame
    seed: int
    #: Expected strikes and flights per region and week (``region x week``) that the counts were
    #: drawn from: what a perfect conflict forecaster could know, short of the count noise.
    intensity: dict[str, np.ndarray] = field(default_factory=dict)


def nw_syria_regions() -> RegionTable:
    f = pd.DataFrame(NW_SYRIA_REGIONS, columns=["code", "name", "parent", "population"])
    return regions_from_frame(f)


def displacement_mean(
    strikes: np.ndarray, flights: np.ndarray, at_risk: np.ndarray, alpha: np.ndarray, truth: TrueParameters
) -> np.ndarray:
    """Expected displacement for the last week of ``strikes``/``flights`` (region x lag-window)."""
    w = truth.lag_weights()[: strikes.shape[-1]][::-1]  # oldest..newest aligned with columns
    xs = np.log1p(strikes) @ w
    xf = np.log1p(flights) @ w
    haz = np.exp(alpha + truth.beta_strikes * xs + truth.beta_flights * xf)
    return at_risk * np.minimum(haz, 0.5)


def simulate_nw_syria(
    n_weeks: int = 160,
    seed: int = 2022,
    start: str = "2017-01-02",
    *,
    final_escalation: bool = True,
    n_random_escalations: int = 6,
    truth: TrueParameters | None = None,
    regions: RegionTable | None = None,
) -> SimulatedData:
    """Simulate weekly strikes, flights and displacement for NW-Syria-like regions.

    Parameters
    ----------
    n_weeks
        Length of the panel (weeks, Monday-labelled).
    seed
        Seed for every random draw; the same seed gives the same data.
    final_escalation
        Add the 9-week offensive at the end (as in Nov 2019 - Jan 2020).
    n_random_escalations
        Earlier bursts of escalation (3-8 weeks, x3-x8) in random zones.
    truth
        Parameters; region effects ``alpha`` are drawn from ``mu_alpha, sigma_alpha`` when empty.
    """
    rng = np.random.default_rng(seed)
    regions = regions or nw_syria_regions()
    truth = truth or TrueParameters()
    R, L = len(regions), truth.n_lags
    if len(truth.alpha) != R:
        alpha = rng.normal(truth.mu_alpha, truth.sigma_alpha, R)
        truth = TrueParameters(**{**truth.as_dict(), "alpha": alpha})
    alpha = np.asarray(truth.alpha)
    zones = regions.frame["parent"].to_numpy()
    base = np.array([_ZONE_STRIKE_BASE.get(z, 1.0) for z in zones])
    T = n_weeks + L  # burn-in for the lags

    # Escalation multipliers.
    mult = np.ones((R, T))
    rows = []
    zone_names = sorted(set(zones))
    for _ in range(n_random_escalations):
        z = zone_names[rng.integers(len(zone_names))]
        dur = int(rng.integers(3, 9))
        t0 = int(rng.integers(L, T - 9 - dur)) if final_escalation else int(rng.integers(L, T - dur))
        k = float(rng.uniform(3, 8))
        mult[zones == z, t0 : t0 + dur] *= k
        rows.append((z, t0 - L, dur, k))
    if final_escalation:
        for z, k in _FINAL_ESCALATION.items():
            mult[zones == z, T - 9 :] *= k
            rows.append((z, n_weeks - 9, 9, k))

    # Strike intensity: AR(1) on the log scale around the base rate, times escalation.
    z = np.zeros((R, T))
    eps = rng.normal(0, truth.strike_sd, (R, T))
    for t in range(1, T):
        z[:, t] = truth.strike_ar * z[:, t - 1] + eps[:, t]
    lam = base[:, None] * np.exp(z) * mult
    strikes = draw_nb(rng, lam, truth.strike_nb_alpha)
    flights = draw_nb(rng, truth.flights_per_strike * lam, truth.strike_nb_alpha)

    # Displacement with depletion of those at risk.
    at_risk = regions.population.copy()
    displaced = np.zeros((R, T))
    for t in range(L, T):
        m = displacement_mean(strikes[:, t - L + 1 : t + 1], flights[:, t - L + 1 : t + 1], at_risk, alpha, truth)
        d = np.minimum(draw_nb(rng, m, truth.nb_alpha), at_risk)
        displaced[:, t] = d
        at_risk = at_risk - d

    dates = pd.date_range(pd.Timestamp(start), periods=n_weeks, freq="W-MON")
    if dates[0] != pd.Timestamp(start):
        raise ValueError(f"start {start} is not a Monday")
    frames = []
    for name, arr in (("strikes", strikes), ("flights", flights), ("displaced", displaced)):
        v = arr[:, L:]
        frames.append(pd.DataFrame({
            "date": np.tile(dates, R),
            "region": np.repeat(regions.codes, n_weeks),
            "series": name,
            "value": v.reshape(-1),
            "source": f"simulate_nw_syria(seed={seed})",
        }))
    obs = pd.concat(frames, ignore_index=True)
    esc = pd.DataFrame(rows, columns=["zone", "start_week", "weeks", "multiplier"])
    esc["start_date"] = [dates[max(0, s)].date() for s in esc["start_week"]]
    intensity = {"strikes": lam[:, L:], "flights": truth.flights_per_strike * lam[:, L:]}
    return SimulatedData(observations=obs, regions=regions, truth=truth, escalations=esc, seed=seed,
                         intensity=intensity)
