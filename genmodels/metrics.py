"""Held-out metrics shared by every family. Family-specific ones come from `model.metrics`."""

from __future__ import annotations

import torch

from .data import Dataset
from .models import GenerativeModel

EVAL_BATCH = 4096


@torch.no_grad()
def test_nll(model: GenerativeModel, x: torch.Tensor) -> float:
    """Mean -log p(x) in nats per sample over the held-out set (exact likelihood models)."""
    return float(torch.cat([-model.log_prob(b) for b in x.split(EVAL_BATCH)]).mean())


def evaluate(model: GenerativeModel, data: Dataset) -> dict[str, float]:
    """The final metrics that `train --json` reports."""
    x = torch.as_tensor(data.test, device=model.device)
    out: dict[str, float] = {}
    if model.has_log_prob and model.fits_data:
        out["test_nll"] = test_nll(model, x)
    with torch.no_grad():
        out.update(model.metrics(x))
    return out
