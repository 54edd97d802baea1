"""Householder Sylvester flow (van den Berg et al. 2018; course notes, "Sylvester flow").

    g(z) = z + Q R h(R̃ Qᵀ z + b),  h = tanh,

Q orthogonal (a product of Householder reflections I - 2 v vᵀ / ‖v‖²), R and R̃ upper
triangular. By Sylvester's determinant identity det(I + A B) = det(I + B A), and since
R̃ R is triangular,

    log |det ∂g/∂z| = Σ_i log |1 + h'((R̃ Qᵀ z + b)_i) R̃_ii R_ii|.

The diagonals R_ii = tanh(·), R̃_ii = tanh(·) give R̃_ii R_ii > -1 and so an invertible g
(their Theorem 2). Inverse: with y = Qᵀx and v = Qᵀz, F(v) = v + R h(R̃ v + b) - y = 0 is
upper triangular in v. Newton's method on the whole vector, v ← v - J⁻¹F(v) with the
triangular J = I + R diag(h') R̃, converges in a few steps; where it does not (or d is too
large to form J per sample), back-substitution from the last coordinate solves one
increasing 1D equation v_i + R_ii h(R̃_ii v_i + c_i) = t_i per coordinate, safeguarded.
Both carry the implicit-function gradient dv = -J⁻¹ dF: Newton's root through one more step
with J held fixed, v - J⁻¹(F - F̄) (F̄ = F detached: the same value), and each 1D root likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .flow import Flow, FlowConfig, Transform
from .roots import TOLERANCE, solve_increasing

NEWTON_STEPS = 20  # whole-vector Newton steps before falling back to back-substitution (4 are typical)
NEWTON_MAX_DIM = 128  # forming J costs d³ per sample; d sequential 1D solves are cheaper above this


def householder(v: torch.Tensor) -> torch.Tensor:
    """Q = H(v_1) ... H(v_k) with H(v) = I - 2 v vᵀ / ‖v‖², for v of shape (k, d)."""
    q = torch.eye(v.shape[1], dtype=v.dtype, device=v.device)
    for vk in v:
        q = q - 2 * torch.outer(q @ vk, vk) / (vk @ vk)
    return q


class Sylvester(Transform):
    """One Sylvester layer with M = d (full rank) and Householder Q."""

    def __init__(self, dim: int, reflections: int):
        super().__init__()
        self.v = nn.Parameter(torch.randn(reflections, dim))
        self.r_raw = nn.Parameter(0.1 * torch.randn(dim, dim))
        self.r_tilde_raw = nn.Parameter(0.1 * torch.randn(dim, dim))
        self.r_diag = nn.Parameter(torch.zeros(dim))  # R_ii = 0: near the identity, yet ∂/∂R_ii ∝ R̃_ii ≠ 0
        self.r_tilde_diag = nn.Parameter(torch.randn(dim))
        self.b = nn.Parameter(torch.zeros(dim))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q, R, R̃ with tanh-bounded diagonals."""
        r = torch.triu(self.r_raw, 1) + torch.diag(torch.tanh(self.r_diag))
        r_tilde = torch.triu(self.r_tilde_raw, 1) + torch.diag(torch.tanh(self.r_tilde_diag))
        return householder(self.v), r, r_tilde

    def forward(self, z):
        q, r, r_tilde = self.factors()
        h = torch.tanh(z @ q @ r_tilde.T + self.b)
        x = z + h @ r.T @ q.T
        return x, torch.log1p((1 - h**2) * (r.diagonal() * r_tilde.diagonal())).sum(-1)

    def inverse(self, x):
        q, r, r_tilde = self.factors()
        y = x @ q
        v = self.newton(y, r, r_tilde) if x.shape[-1] <= NEWTON_MAX_DIM else None
        v = self.back_substitution(y, r, r_tilde) if v is None else v
        h = torch.tanh(v @ r_tilde.T + self.b)
        log_det = torch.log1p((1 - h**2) * (r.diagonal() * r_tilde.diagonal())).sum(-1)
        return v @ q.T, -log_det

    def newton(self, y, r, r_tilde) -> torch.Tensor | None:
        """The root v of F(v) = v + R h(R̃ v + b) - y by whole-vector Newton steps, or None if unconverged."""
        with torch.no_grad():
            v, tol = y.clone(), TOLERANCE[y.dtype]
            for _ in range(NEWTON_STEPS):
                h, f = self.residual(v, y, r, r_tilde)
                step = triangular_solve(jacobian(h, r, r_tilde), f)
                v = v - step
                if not torch.isfinite(v).all():
                    return None
                if bool((step.abs() <= tol * (1 + v.abs())).all()):
                    break
            else:
                return None
        if not torch.is_grad_enabled():
            return v
        h, f = self.residual(v, y, r, r_tilde)
        return v - triangular_solve(jacobian(h.detach(), r.detach(), r_tilde.detach()), f - f.detach())

    def residual(self, v, y, r, r_tilde) -> tuple[torch.Tensor, torch.Tensor]:
        """h = tanh(R̃ v + b) and F(v) = v + R h - y."""
        h = torch.tanh(v @ r_tilde.T + self.b)
        return h, v + h @ r.T - y

    def back_substitution(self, y, r, r_tilde) -> torch.Tensor:
        """The root, one coordinate at a time from the last: a safeguarded 1D solve each (`roots`)."""
        d = y.shape[-1]
        v: list[torch.Tensor] = [y.new_empty(0)] * d
        h: list[torch.Tensor] = [y.new_empty(0)] * d
        for i in reversed(range(d)):
            later_v = torch.stack(v[i + 1:], -1) if i < d - 1 else y.new_zeros(len(y), 0)
            later_h = torch.stack(h[i + 1:], -1) if i < d - 1 else y.new_zeros(len(y), 0)
            c = later_v @ r_tilde[i, i + 1:] + self.b[i]
            t = y[:, i] - later_h @ r[i, i + 1:]
            r_ii, r_tilde_ii = r[i, i], r_tilde[i, i]

            def coordinate(s, c=c, r_ii=r_ii, r_tilde_ii=r_tilde_ii):
                hs = torch.tanh(r_tilde_ii * s + c)
                return s + r_ii * hs, 1 + r_ii * r_tilde_ii * (1 - hs**2)

            v[i] = solve_increasing(coordinate, t, t - r_ii.abs(), t + r_ii.abs())
            h[i] = torch.tanh(r_tilde_ii * v[i] + c)
        return torch.stack(v, -1)


def jacobian(h: torch.Tensor, r: torch.Tensor, r_tilde: torch.Tensor) -> torch.Tensor:
    """∂F/∂v = I + R diag(1 - h²) R̃ per sample, (n, d, d), upper triangular."""
    return torch.eye(r.shape[0], dtype=r.dtype, device=r.device) + (r * (1 - h**2).unsqueeze(-2)) @ r_tilde


def triangular_solve(j: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """J⁻¹ f per sample, for upper-triangular J (n, d, d) and f (n, d)."""
    return torch.linalg.solve_triangular(j, f.unsqueeze(-1), upper=True).squeeze(-1)


@dataclass(frozen=True)
class SylvesterConfig(FlowConfig):
    layers: int = field(default=16, metadata={"min": 1, "max": 64, "help": "Sylvester layers"})
    reflections: int = field(default=2, metadata={"min": 1, "max": 16, "help": "Householder reflections in each Q"})


class SylvesterFlow(Flow):
    Config = SylvesterConfig

    def __init__(self, config: SylvesterConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.transforms = self.closed_form_towards_fit(Sylvester(dim, config.reflections) for _ in range(config.layers))
