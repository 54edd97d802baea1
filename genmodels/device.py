"""Pick the compute device: CUDA, then Apple's MPS, then CPU."""

from __future__ import annotations

import torch

from .errors import UserError


def pick_device(name: str | None = None) -> torch.device:
    """The named device after checking it exists, or the best available one."""
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use cpu, cuda, mps or auto") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise UserError(f"device {name!r} is not available on this machine; use cpu or auto")
    return device
