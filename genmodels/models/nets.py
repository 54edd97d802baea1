"""Small building blocks shared by the models."""

from __future__ import annotations

from torch import nn


def mlp(d_in: int, d_out: int, hidden: int, depth: int = 2, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """d_in -> hidden (x depth, with act) -> d_out."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, d_out))
