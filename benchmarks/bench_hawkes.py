"""Exponential Hawkes fit on 1M events: ours (μ, α, β with SEs and fit quality) vs tick vs naive O(N²).

    .venv/bin/python benchmarks/bench_hawkes.py [--events 1000000] [--naive-events 20000] [--repeats 5]

* ours: ``calibration.hawkes_fit.fit_hawkes_exp(baseline="constant")`` - full 3-parameter MLE, standard errors
  from the analytic Hessian, time-rescaling KS and Ljung-Box, moments cross-check (the like-for-like row); and the
  default ``baseline="auto"``, which also fits the hour-of-day baseline (26 parameters) and chooses by likelihood
  ratio;
* tick 0.8 ``HawkesExpKern(decays=β, gofit='likelihood', penalty='none')`` - 2 parameters (μ, n) with β
  fixed at the truth, no standard errors (the recipe that converges, statistics.md §1.1 pitfall 2);
* naive O(N²) log-likelihood (numba double loop) on a subset, against one O(N) pass on the same subset;
  the ratio grows like N, so its 1M figure is extrapolated by (1M/N)².
Times are the best of ``--repeats`` runs after a warm-up (numba compiles and caches on first call).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from numba import njit
from tick.hawkes import HawkesExpKern, SimuHawkesExpKernels

from calibration.hawkes import hawkes_exp_hessian, hawkes_exp_loglik, hawkes_exp_residuals
from calibration.hawkes_fit import fit_hawkes_exp
from calibration.hawkes_gof import time_rescaling_tests
from calibration.hawkes_moments import hawkes_exp_moments

MU, ALPHA, BETA = 0.5, 0.9, 1.5


@njit(cache=True)
def naive_loglik(t, horizon, mu, alpha, beta):
    """ℓ by the definition: the intensity at each event sums over all earlier events, O(N²)."""
    total = 0.0
    for i in range(t.shape[0]):
        excitation = 0.0
        for j in range(i):
            excitation += math.exp(-beta * (t[i] - t[j]))
        total += math.log(mu + alpha * excitation)
    compensator = mu * horizon
    for i in range(t.shape[0]):
        compensator += alpha / beta * (1.0 - math.exp(-beta * (horizon - t[i])))
    return total - compensator


def best_of(repeats: int, function) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def simulate(n_events: int, seed: int = 1) -> tuple[np.ndarray, float]:
    end_time = float(math.ceil(n_events * (1 - ALPHA / BETA) / MU))
    simulation = SimuHawkesExpKernels(
        adjacency=np.array([[ALPHA / BETA]]),
        decays=np.array([[BETA]]),
        baseline=np.array([MU]),
        end_time=end_time,
        seed=seed,
        verbose=False,
    )
    simulation.simulate()
    return simulation.timestamps[0], end_time


def tick_fit(events: np.ndarray, end_time: float) -> HawkesExpKern:
    learner = HawkesExpKern(decays=BETA, gofit="likelihood", penalty="none", step=1e-2, max_iter=500, tol=1e-10)
    learner.fit([events], start=np.array([0.3, 0.3]))
    return learner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    events, end_time = simulate(args.events)
    n = events.size
    print(f"simulated {n:,} events on [0, {end_time:,.0f}] s, truth mu={MU} alpha={ALPHA} beta={BETA} n={ALPHA / BETA}")

    fit_hawkes_exp(events, end_time)  # warm-up: numba cache load / compile
    tick_fit(events, end_time)
    ours_time, ours = best_of(args.repeats, lambda: fit_hawkes_exp(events, end_time, baseline="constant"))
    auto_time, auto = best_of(args.repeats, lambda: fit_hawkes_exp(events, end_time))
    tick_time, tick = best_of(max(args.repeats // 2, 1), lambda: tick_fit(events, end_time))
    est, se = ours.estimates, ours.std_errors

    pass_time, _ = best_of(args.repeats, lambda: hawkes_exp_hessian(events, end_time, MU, ALPHA, BETA))
    moments_time, _ = best_of(args.repeats, lambda: hawkes_exp_moments(events, end_time))
    gof_time, _ = best_of(
        args.repeats,
        lambda: time_rescaling_tests(hawkes_exp_residuals(events, end_time, est["mu"], est["alpha"], est["beta"])),
    )

    m = args.naive_events
    subset, sub_end = events[:m], float(events[m - 1])
    naive_loglik(subset[:10], sub_end, MU, ALPHA, BETA)
    naive_time, naive_value = best_of(1, lambda: naive_loglik(subset, sub_end, MU, ALPHA, BETA))
    ozaki_time, ozaki_value = best_of(args.repeats, lambda: hawkes_exp_loglik(subset, sub_end, MU, ALPHA, BETA))
    naive_1m = naive_time * (n / m) ** 2

    tick_mu, tick_n = float(tick.baseline[0]), float(tick.adjacency[0, 0])
    rows = [
        (
            "ours: fit_hawkes_exp (mu, alpha, beta) + SEs + GoF",
            n,
            ours_time,
            f"mu={est['mu']:.4f}±{se['mu']:.4f} n={est['branching_ratio']:.4f}±{se['branching_ratio']:.4f} "
            f"beta={est['beta']:.4f}±{se['beta']:.4f}",
        ),
        (
            "ours: same, baseline auto (+ hour of day, LR choice)",
            n,
            auto_time,
            f"bins={auto.estimates['baseline_bins']:.0f} LR p={auto.goodness_of_fit['lr_pvalue']:.3f} "
            f"n={auto.estimates['branching_ratio']:.4f}",
        ),
        ("tick HawkesExpKern likelihood, beta fixed (=truth)", n, tick_time, f"mu={tick_mu:.4f} n={tick_n:.4f}"),
        ("  ours: one l+grad+Hessian O(N) pass", n, pass_time, ""),
        ("  ours: moments start (24 window widths)", n, moments_time, ""),
        (
            "  ours: residuals + KS + Ljung-Box",
            n,
            gof_time,
            f"KS p={ours.goodness_of_fit['ks_pvalue']:.3f} LB p={ours.goodness_of_fit['ljung_box_pvalue']:.3f}",
        ),
        ("naive O(N^2) log-likelihood, one evaluation", m, naive_time, f"l={naive_value:.4f}"),
        ("ours O(N) log-likelihood, one evaluation", m, ozaki_time, f"l={ozaki_value:.4f}"),
        ("naive O(N^2) one evaluation, extrapolated x(N/n)^2", n, naive_1m, "extrapolated"),
    ]
    print(f"\n{'method':54} {'events':>10} {'seconds':>10}  estimates")
    for name, size, seconds, note in rows:
        print(f"{name:54} {size:>10,} {seconds:>10.4f}  {note}")

    ratios = [
        ("tick fixed-beta fit / our full fit with SEs", f"{tick_time / ours_time:.2f}x"),
        ("tick fixed-beta fit / our fit with the baseline choice", f"{tick_time / auto_time:.2f}x"),
        (f"naive / O(N), one evaluation at {m:,} events", f"{naive_time / ozaki_time:,.0f}x"),
        (
            f"naive one evaluation at {n:,} (extrapolated) / our full fit",
            f"{naive_1m / ours_time:,.0f}x (~{naive_1m / 3600:.1f} h per evaluation)",
        ),
        (f"|naive - O(N)| / |l| at {m:,} events", f"{abs(naive_value - ozaki_value) / abs(naive_value):.1e}"),
        ("compensator / N at our optimum", f"{ours.goodness_of_fit['compensator_ratio']:.10f}"),
    ]
    print("\nratios")
    for name, value in ratios:
        print(f"  {name:62} {value}")


if __name__ == "__main__":
    main()
