"""Pick the compute device (CUDA, then Apple's MPS, then the CPU; for 2D points the CPU) and the CPU threads."""

from __future__ import annotations

import torch

from .errors import UserError


def pick_device(name: str | None = None, points: bool = False) -> torch.device:
    """The named device after checking it exists, or ("auto") the best available one for the data.

    For 2D points (`points`) the best is the CPU. Their models are small MLPs whose steps are
    hundreds of tiny kernels, so a GPU waits on launches. On an H200 machine on 2026-12-04, RealNVP
    on moons at batch 512 trained 92 steps/s on the GPU and 191 on one of the machine's CPU cores
    (BENCHMARKS.md, "On a GPU").
    """
    if name in (None, "", "auto"):
        if points:
            return torch.device("cpu")
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


def use_training_threads(threads: int) -> int:
    """Set torch's intra-op threads (GENMODELS_THREADS, `Limits.threads`, default 1) and return the number.

    The models here are small: most ops are too short to split, so a second thread adds
    OpenMP barriers (about 1.6x the CPU per step here). On a busy CPU it is far worse: a
    barrier waits for a descheduled thread. With other processes on both cores of the
    benchmark machine, 2000 RealNVP steps took 106 s with one thread and over 34 minutes
    with two. Concurrent users are served by parallel trainers (the Limiter's slots), one
    thread each.
    """
    torch.set_num_threads(threads)
    return threads
