"""EM for a Gaussian mixture, step by step (course notes, "Expectation-Maximisation (EM) Algorithm").

Model: z ∈ {1..K} with p(z = k) = π_k, p_θ(x | z = k) = N(x; μ_k, Σ_k), so p_θ(x) = Σ_k π_k N(x; μ_k, Σ_k).
For any responsibilities q_n(k) (a distribution over z for each point x_n), the ELBO

    L(θ, q) = (1/N) Σ_n Σ_k q_n(k) [log π_k + log N(x_n; μ_k, Σ_k) - log q_n(k)]
            = (1/N) Σ_n log p_θ(x_n) - (1/N) Σ_n KL(q_n || p_θ(·|x_n))

is a lower bound on the mean log-likelihood, with equality iff q_n = p_θ(·|x_n).
- E-step: q_n(k) = p_θ(z = k | x_n) ∝ π_k N(x_n; μ_k, Σ_k), which closes the gap: L = log-likelihood.
- M-step: θ = argmax_θ L(θ, q), in closed form: N_k = Σ_n q_n(k), π_k = N_k / N,
  μ_k = Σ_n q_n(k) x_n / N_k, Σ_k = Σ_n q_n(k) (x_n - μ_k)(x_n - μ_k)^T / N_k.
Each round can only raise the log-likelihood: log p_θ' ≥ L(θ', q) ≥ L(θ, q) = log p_θ.
Not trained by gradient: the app calls `step()` and draws `state()`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..evaluation.ellipses import ellipses

COV_FLOOR = 1e-6  # added to each Σ_k's diagonal so a component cannot collapse onto one point


class GaussianMixtureEM:
    """EM on points x (N, D). Alternate `e_step` and `m_step`, or call `step` for the next one."""

    def __init__(self, x: np.ndarray, k: int = 8, seed: int = 0):
        self.x = np.asarray(x, dtype=np.float64)
        n, d = self.x.shape
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= {n} components for {n} points, got k={k}")
        rng = np.random.default_rng(seed)
        self.means = self.x[rng.choice(n, k, replace=False)]
        self.covs = np.tile(np.cov(self.x.T).reshape(d, d) + COV_FLOOR * np.eye(d), (k, 1, 1))
        self.weights = np.full(k, 1.0 / k)
        self.q = np.full((n, k), 1.0 / k)  # responsibilities q_n(k)
        self.next_step = "E"
        self.history: list[tuple[int, str, float, float]] = [(0, "init", self.log_likelihood(), self.elbo())]

    def log_joint(self, x: np.ndarray | None = None) -> np.ndarray:
        """log π_k + log N(x_n; μ_k, Σ_k), shape (N, K)."""
        x = self.x if x is None else np.asarray(x, dtype=np.float64)
        diff = x[:, None, :] - self.means[None]  # (N, K, D)
        chol = np.linalg.cholesky(self.covs)  # (K, D, D)
        white = np.linalg.solve(chol[None], diff[..., None])[..., 0]  # L_k^{-1} (x_n - μ_k)
        log_det = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(-1)
        d = x.shape[1]
        return np.log(self.weights) - 0.5 * ((white**2).sum(-1) + log_det + d * np.log(2 * np.pi))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log p_θ(x) = log Σ_k π_k N(x; μ_k, Σ_k) for each row of x."""
        return logsumexp(self.log_joint(x), axis=1)

    def log_likelihood(self) -> float:
        """Mean log p_θ(x_n) over the points, in nats."""
        return float(self.log_density(self.x).mean())

    def elbo(self) -> float:
        """L(θ, q) of the module docstring, per point, at the current θ and responsibilities."""
        q = self.q
        log_q = np.log(np.where(q > 0, q, 1.0))  # 0 log 0 = 0
        return float((q * (self.log_joint() - log_q)).sum(1).mean())

    def e_step(self) -> None:
        """q_n(k) = p_θ(z = k | x_n): Bayes' rule on the current mixture."""
        log_joint = self.log_joint()
        self.q = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        self._record("E")

    def m_step(self) -> None:
        """The closed-form maximiser of L(θ, q) over θ = (π, μ, Σ) for fixed q."""
        n_k = self.q.sum(0)
        self.weights = n_k / len(self.x)
        self.means = (self.q.T @ self.x) / n_k[:, None]
        diff = self.x[:, None, :] - self.means[None]
        self.covs = np.einsum("nk,nki,nkj->kij", self.q, diff, diff) / n_k[:, None, None]
        self.covs += COV_FLOOR * np.eye(self.x.shape[1])
        self._record("M")

    def step(self) -> str:
        """Run the next half step (E, then M, then E, ...) and return its name."""
        name = self.next_step
        if name == "E":
            self.e_step()
        else:
            self.m_step()
        return name

    def _record(self, name: str) -> None:
        iteration = self.history[-1][0] + (name == "E")
        self.history.append((iteration, name, self.log_likelihood(), self.elbo()))
        self.next_step = "M" if name == "E" else "E"

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to draw: the components (2σ ellipses for 2D data), responsibilities and the history
        as (iteration, is_m_step, log-likelihood, ELBO) rows."""
        out = {"weights": self.weights, "means": self.means, "covs": self.covs, "responsibilities": self.q,
               "history": np.array([(i, s == "M", ll, b) for i, s, ll, b in self.history], dtype=np.float64)}
        if self.x.shape[1] == 2:
            out["ellipses"] = ellipses(self.means, self.covs)
        return out
