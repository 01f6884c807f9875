"""Lift: what an offer earned against its control group, with the uncertainty that goes with it.

Pure arithmetic over two arms (treated and held out), so the formulas can be read, tested by
hand and reused by any backend. Every formula is written out in docs/experiments.md:

- conversion rate p = converters / customers, per arm;
- absolute lift d = p_t - p_c, with a 95% interval d ± z·sqrt(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c)
  (Wald interval for a difference of proportions, z = 1.95996...);
- relative lift d / p_c, with the interval
  exp(ln(p_t/p_c) ± z·sqrt(1/c_t - 1/n_t + 1/c_c - 1/n_c)) - 1
  (Katz's log interval for a ratio of proportions; undefined while an arm has no converter);
- incremental orders and revenue: (per-customer figure treated - held out) x treated customers;
- incremental ROI: (incremental revenue - cost) / cost;
- the customers per arm a test needs to detect the observed lift with 95% confidence and 80%
  power: (z_0.975 + z_0.8)^2 · (p_t(1-p_t) + p_c(1-p_c)) / d^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
POWER = 0.80
Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)
Z_POWER = NormalDist().inv_cdf(POWER)


@dataclass(frozen=True, slots=True)
class Arm:
    """Customers of one side of an experiment and what they bought in the measuring window."""

    customers: int
    converters: int
    orders: int
    revenue: float

    @property
    def rate(self) -> float | None:
        return self.converters / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> float | None:
        return self.revenue / self.customers if self.customers else None

    @property
    def orders_per_customer(self) -> float | None:
        return self.orders / self.customers if self.customers else None


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class Lift:
    """Treated against held out, as far as the numbers allow (None where they do not)."""

    absolute: float | None
    absolute_ci: Interval | None
    relative: float | None
    relative_ci: Interval | None
    incremental_converters: float | None
    incremental_orders: float | None
    incremental_revenue: float | None
    cost: float
    incremental_roi: float | None
    significant: bool
    needed_per_arm: int | None  # customers per arm to detect the observed lift; None: no lift seen


def measure(treated: Arm, held_out: Arm, cost: float) -> Lift:
    """The lift of `treated` over `held_out`, with 95% intervals; None where undefined."""
    p_t, p_c = treated.rate, held_out.rate
    if p_t is None or p_c is None:
        return Lift(None, None, None, None, None, None, None, cost, None, False, None)
    absolute = p_t - p_c
    spread = math.sqrt(p_t * (1 - p_t) / treated.customers + p_c * (1 - p_c) / held_out.customers)
    absolute_ci = Interval(absolute - Z * spread, absolute + Z * spread) if spread > 0 else None
    revenue = _incremental(treated.revenue_per_customer, held_out.revenue_per_customer, treated)
    return Lift(
        absolute=absolute,
        absolute_ci=absolute_ci,
        relative=absolute / p_c if p_c > 0 else None,
        relative_ci=_relative_interval(treated, held_out),
        incremental_converters=absolute * treated.customers,
        incremental_orders=_incremental(
            treated.orders_per_customer, held_out.orders_per_customer, treated
        ),
        incremental_revenue=revenue,
        cost=cost,
        incremental_roi=(revenue - cost) / cost if cost > 0 and revenue is not None else None,
        significant=absolute_ci is not None and absolute_ci.excludes_zero(),
        needed_per_arm=needed_per_arm(p_t, p_c),
    )


def _incremental(treated: float | None, held_out: float | None, arm: Arm) -> float | None:
    if treated is None or held_out is None:
        return None
    return (treated - held_out) * arm.customers


def _relative_interval(treated: Arm, held_out: Arm) -> Interval | None:
    """Katz's log interval for p_t / p_c, minus one; needs a converter in each arm."""
    if treated.converters == 0 or held_out.converters == 0:
        return None
    ratio = (treated.converters / treated.customers) / (held_out.converters / held_out.customers)
    spread = math.sqrt(
        1 / treated.converters
        - 1 / treated.customers
        + 1 / held_out.converters
        - 1 / held_out.customers
    )
    log_ratio = math.log(ratio)
    return Interval(math.exp(log_ratio - Z * spread) - 1, math.exp(log_ratio + Z * spread) - 1)


def needed_per_arm(p_t: float, p_c: float) -> int | None:
    """Customers per arm to tell `p_t` from `p_c` at 95% confidence with 80% power."""
    effect = p_t - p_c
    if effect == 0:
        return None
    variance = p_t * (1 - p_t) + p_c * (1 - p_c)
    return math.ceil((Z + Z_POWER) ** 2 * variance / effect**2)
