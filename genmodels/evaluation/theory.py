"""Known-density theory for the GAN views, computed from a snapshot's samples and the dataset.

The model never sees the data density, so these live beside it: a run adds `gan_theory` to a
GAN's visuals where they are made (`Training.visuals`, through `BESIDE_VISUALS`), on the run's
host and in its budget for pictures, not in the web process that draws them, with the
`sample_quality` of each timeline entry (computed once per entry): the mode-coverage and JS
curves over training.

Optimal discriminator (course notes, "Loss function and Jensen-Shannon divergence"):
    D*(x) = p(x) / (p(x) + p_g(x)),   and   π[log D*] + p_g[log(1 - D*)] = 2 JS(p, p_g) - log 4,
so JS(p, p_g) = log 2 + ½ (π[log D*] + p_g[log(1 - D*)]). Here p is the exact data density
and p_g a Gaussian KDE of generator samples whose bandwidth maximises held-out likelihood.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data import Dataset
from .metrics import histogram_divergences, histogram_edges, mode_coverage

KDE_BANDWIDTHS = np.geomspace(0.005, 2.0, 12)  # candidates, in data units
# fakes in the KDE and as many held out: 500 draw D* in 35 ms where 1000 took 166 (the GAN page's host spent
# most of its picture budget there), with the same JS estimates to 0.005 nats over 8 seeds
N_KDE, N_OVERLAY_DATA = 500, 1000
LOG_NEGLIGIBLE = math.log(1e-3)
LOG_TAIL = -30.0  # log of the smallest kernel share kept in a sum (e^-30: normal in float32, no subnormals)


def squared_distances(x: np.ndarray, centres: np.ndarray) -> torch.Tensor:
    """‖x_j − c_i‖² for every pair, float64: ‖x‖² + ‖c‖² − 2 x·c (one matrix product, half cdist's time)."""
    x, c = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(centres, dtype=torch.float64)
    return torch.addmm((x * x).sum(1, keepdim=True), x, c.T, alpha=-2).add_((c * c).sum(1)).clamp_(min=0)


def kde_log_prob(x: np.ndarray, centres: np.ndarray, bandwidth: float,
                 distances: torch.Tensor | None = None) -> np.ndarray:
    """log q(x) for q = (1/n) Σ_i N(x; c_i, h² I) (from `distances`, the `squared_distances(x, centres)`,
    when they are at hand): the distances in float64, the sum of kernels in float32 (a third of the time;
    log q to about 1e-6, where the pictures and the JS estimate need 1e-3)."""
    d2 = squared_distances(x, centres) if distances is None else distances
    log_norm = x.shape[1] / 2 * math.log(2 * math.pi * bandwidth**2) + math.log(len(centres))
    return (log_sum_exp(d2.float() * (-1 / (2 * bandwidth**2))) - log_norm).numpy()


def log_sum_exp(a: torch.Tensor) -> torch.Tensor:
    """log Σ_j exp(a_ij) per row, terms under e^LOG_TAIL of the row's largest dropped (under 1e-9 of the sum
    for a few thousand terms): torch.logsumexp's exp of far tails yields subnormals, and costs 3-4x as much."""
    a_max = a.max(1, keepdim=True).values
    return (a - a_max).clamp_(min=LOG_TAIL).exp_().sum(1).log_().add_(a_max[:, 0])


def select_bandwidth(fit: np.ndarray, held_out: np.ndarray, candidates: np.ndarray = KDE_BANDWIDTHS) -> float:
    """The candidate bandwidth with the largest mean held-out log-likelihood (the distances computed once)."""
    d2 = squared_distances(held_out, fit)
    scores = [kde_log_prob(held_out, fit, h, d2).mean() for h in candidates]
    return float(candidates[int(np.argmax(scores))])


def optimal_discriminator(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """D*(x) = p / (p + q) = σ(log p - log q), computed stably from log densities."""
    return np.exp(log_p - np.logaddexp(log_p, log_q))


def js_at_optimum(log_p_real: np.ndarray, log_q_real: np.ndarray, log_p_fake: np.ndarray, log_q_fake: np.ndarray
                  ) -> float:
    """JS(p, q) = log 2 + ½ (E_p log D*(x) + E_q log(1 - D*(x))): the notes' value of the game at D*.

    Monte Carlo over data points (log p, log q at x ~ p) and fake points (at x ~ q).
    """
    log_d_real = log_p_real - np.logaddexp(log_p_real, log_q_real)
    log_1m_d_fake = log_q_fake - np.logaddexp(log_p_fake, log_q_fake)
    return float(math.log(2) + (log_d_real.mean() + log_1m_d_fake.mean()) / 2)


def gan_overlay(visuals: dict[str, np.ndarray], data: Dataset) -> dict[str, np.ndarray]:
    """D* on the plot grid and the JS estimate, where the data density is known (else empty).

    D* = p / (p + q) is 0/0 where neither density has mass; there (p and q both below
    exp(LOG_NEGLIGIBLE) = 1e-3 per unit area) it is NaN, drawn blank, rather than the
    ratio of two vanishing tails.

    Two sets of N_KDE fixed-z samples: the KDE is fitted on the first, and its bandwidth
    chosen, and the JS expectation over fakes taken, on the second.
    """
    if data.log_prob is None or "samples" not in visuals or "grid_x" not in visuals:
        return {}
    x_fake = visuals["samples"].astype(np.float64)
    fit, held_out = x_fake[:N_KDE], x_fake[N_KDE : 2 * N_KDE]
    h = select_bandwidth(fit, held_out)
    gx, gy = visuals["grid_x"].astype(np.float64), visuals["grid_y"].astype(np.float64)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    x_real = data.test[:N_OVERLAY_DATA].astype(np.float64)
    js = js_at_optimum(data.log_prob(x_real), kde_log_prob(x_real, fit, h),
                       data.log_prob(held_out), kde_log_prob(held_out, fit, h))
    log_p, log_q = data.log_prob(grid), kde_log_prob(grid, fit, h)
    d_star = np.where(np.maximum(log_p, log_q) < LOG_NEGLIGIBLE, np.nan, optimal_discriminator(log_p, log_q))
    return {"d_star": d_star, "js_estimate": np.array(js), "kde_bandwidth": np.array(h)}


def sample_quality(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """For one set of 2D samples: histogram kl / reverse_kl / js against the held-out data, and on
    mixtures the covered modes (of `total`) and the high-quality fraction; empty for images."""
    if data.dim != 2:
        return {}
    x_data = data.test.astype(np.float64)
    out = histogram_divergences(x_data, x.astype(np.float64), histogram_edges(x_data))
    if data.mixture is not None:
        covered, high_quality = mode_coverage(x, data.mixture)
        out.update(modes=float(covered.sum()), total=float(len(covered)), high_quality=high_quality)
    return out


def gan_theory(visuals: dict[str, np.ndarray], data: Dataset) -> dict[str, np.ndarray]:
    """What a GAN's page shows of the known density beside the model's own visuals: `gan_overlay`
    (D*, the JS estimate), as `quality_<name>` the `sample_quality` of the samples and, as
    `timeline_<name>`, that of each timeline entry (one value per entry)."""
    if "samples" not in visuals:
        return {}
    quality = {f"quality_{k}": np.array(v) for k, v in sample_quality(visuals["samples"], data).items()}
    return gan_overlay(visuals, data) | quality | timeline_quality(visuals, data)


_entry_quality: dict[tuple, dict[str, float]] = {}  # (data, step, first sample) -> sample_quality, bounded
ENTRY_CACHE = 4096


def timeline_quality(visuals: dict[str, np.ndarray], data: Dataset) -> dict[str, np.ndarray]:
    """`sample_quality` of each timeline entry as `timeline_<name>` arrays; an entry keeps its step and samples
    from one visuals to the next, so each is computed once (on a host that serves many runs, too)."""
    if len(visuals.get("timeline_step", ())) == 0 or data.dim != 2:
        return {}
    if len(_entry_quality) > ENTRY_CACHE:
        _entry_quality.clear()
    rows = []
    for step, x in zip(visuals["timeline_step"], visuals["timeline"]):
        key = (data.name, int(step), x[0].tobytes())
        if key not in _entry_quality:
            _entry_quality[key] = sample_quality(x, data)
        rows.append(_entry_quality[key])
    return {f"timeline_{k}": np.array([r[k] for r in rows]) for k in rows[0]}


# family -> visuals of the model and the data together, made with the model's own (`Training.visuals`)
BESIDE_VISUALS = {"gan": gan_theory}
