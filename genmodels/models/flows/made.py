"""MADE and the gated autoregressive layer of the course notes ("The autoregressive layer").

MADE (Germain et al. 2015) masks the weights of an MLP so that output i sees only the
inputs that come before i in a chosen order: the network computes every conditional
of p(x) = Π_i p(x_i | x_{<i}) in one pass.

The gated autoregressive layer (Kingma et al. 2016, IAF; the notes' numerically stable
sigmoid parametrisation):
    g(u)_i = σ_i u_i + (1 − σ_i) m_i,   σ_i = sigmoid(s_i(u_{<i})),   m_i = m_i(u_{<i}),
    g^{-1}(y)_i = (y_i − (1 − σ_i) m_i) / σ_i,
    log |det ∂g/∂u| = Σ_i log σ_i   (the Jacobian is triangular in the chosen order).
g needs one MADE pass; g^{-1} needs D sequential passes, since σ_i and m_i depend on the
u_{<i} being solved for. Which direction is cheap decides the flow: IAF puts g on the
sampling side (z → x), MAF on the density side (x → z).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .flow import Transform

GATE_BOUND = 5.0  # s = B·tanh(net/B) keeps σ ≥ sigmoid(−B) ≈ 0.007: the inverse grows at most ~150× per layer


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask of shape (out, in)."""

    def __init__(self, d_in: int, d_out: int, mask: torch.Tensor):
        super().__init__(d_in, d_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """x (N, D) → (N, outputs, D) where out[:, k, i] depends only on the x_j before x_i in `order`.

    `order` lists the dimensions in the order of the factorisation: order = [2, 0, 1] means
    x_2 comes first (its outputs are constants), then x_0 (sees x_2), then x_1 (sees x_2, x_0).
    Degrees follow Germain et al. (2015, eq. 12-13): input i has degree r_i ∈ {1..D} (its rank
    in `order`), hidden unit k has degree m_k ∈ {1..D−1} (assigned cyclically), a hidden unit
    sees the inputs with r_j ≤ m_k, and output i sees the hidden units with m_k < r_i.
    An optional context (N, context) feeds every first-layer unit (IAF's encoder state h), so
    every output but those of the first dimension in `order` (which are constants) sees it.
    """

    def __init__(self, order: torch.Tensor, hidden: int, depth: int = 2, outputs: int = 2, context: int = 0):
        super().__init__()
        dim = len(order)
        if depth < 1:
            raise ValueError("MADE needs at least one hidden layer")
        rank = torch.empty(dim, dtype=torch.long)
        rank[order] = torch.arange(1, dim + 1)
        degree = torch.arange(hidden) % max(dim - 1, 1) + 1
        self.register_buffer("order", torch.as_tensor(order))
        self.dim, self.outputs = dim, outputs
        layers, prev = [MaskedLinear(dim, hidden, degree[:, None] >= rank[None, :])], degree
        for _ in range(depth - 1):
            layers.append(MaskedLinear(hidden, hidden, degree[:, None] >= prev[None, :]))
        self.hidden_layers = nn.ModuleList(layers)
        self.out = MaskedLinear(hidden, outputs * dim, (rank[:, None] > degree[None, :]).repeat(outputs, 1))
        self.context = nn.Linear(context, hidden, bias=False) if context else None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.hidden_layers[0](x)
        if self.context is not None:
            h = h + self.context(context)
        h = F.relu(h)
        for layer in self.hidden_layers[1:]:
            h = F.relu(layer(h))
        return self.out(h).view(-1, self.outputs, self.dim)


class GatedAutoregressive(Transform):
    """The gated layer g of the module docstring as a Transform: forward = g (one pass), inverse = g^{-1} (D passes).

    σ and m are computed from the layer's *input side* u (x_{<i} in the notes), in the
    order `order`, optionally also from a context. Used as is, it is an IAF layer: sampling
    z → x is one pass and log q(x) needs D passes. `Inverse(GatedAutoregressive(...))` is a
    MAF layer: log p(x) is one pass, sampling needs D passes.
    At initialisation m = 0 and σ = sigmoid(gate_bias) everywhere (Kingma et al.'s forget-gate
    bias: close to the identity, a mild contraction). The pre-sigmoid gate is softly bounded,
    s = B·tanh(MADE(u)/B): without it a ReLU network extrapolates s → −∞ far from the data
    and the D-pass inverse overflows (u_i = y_i/σ_i grows exponentially from pass to pass).
    """

    def __init__(self, order: torch.Tensor, hidden: int, depth: int = 2, context: int = 0, gate_bias: float = 2.0):
        super().__init__()
        self.made = MADE(order, hidden, depth, outputs=2, context=context)
        nn.init.zeros_(self.made.out.weight)
        with torch.no_grad():
            self.made.out.bias.view(2, -1)[0].fill_(GATE_BOUND * math.atanh(gate_bias / GATE_BOUND))
            self.made.out.bias.view(2, -1)[1].zero_()

    def gate_and_shift(self, u: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The pre-sigmoid gate s(u_{<i}) and the shift m(u_{<i}), each (N, D)."""
        s, m = self.made(u, context).unbind(1)
        return GATE_BOUND * torch.tanh(s / GATE_BOUND), m

    def forward(self, u: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """y = g(u) and log |det ∂y/∂u| = Σ log σ, in one pass."""
        s, m = self.gate_and_shift(u, context)
        sigma = torch.sigmoid(s)
        return sigma * u + torch.sigmoid(-s) * m, F.logsigmoid(s).sum(-1)

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """u = g^{-1}(y) and log |det ∂u/∂y| = −Σ log σ, solving one dimension per pass in `order`.

        Dimensions not solved yet stay 0, so no pass ever sees a provisional (possibly huge) value.
        """
        u = torch.zeros_like(y)
        for i in self.made.order:
            s, m = self.gate_and_shift(u, context)
            u_i = (y[:, i] - torch.sigmoid(-s[:, i]) * m[:, i]) * torch.exp(-F.logsigmoid(s[:, i]))
            u = u.index_copy(1, i.view(1), u_i[:, None])
        return u, -F.logsigmoid(s).sum(-1)  # the last pass saw every u_j that any σ_i depends on
