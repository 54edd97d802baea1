"""`python -m genmodels.bench.profile [--data moons]`: what one RealNVP training step is made of.

A step of these small flows is per-op overhead plus a few matrix products, so the count of
torch operators a step dispatches (top level: an operator's own sub-operators are not counted)
says much of where the time goes, and unlike a timing it does not depend on the machine's load.
For our RealNVP (trained by the app's loop) and each peer's (by its own loop, `peers.OwnLoop`),
it prints the operators per step, the share of self CPU time in matrix products, and the
operators dispatched most often. Timings come from torch.profiler over `STEPS` steps, 1 thread.
"""

from __future__ import annotations

import argparse
import collections
import os
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from ..config import TrainConfig
from ..data import load_dataset
from ..models.flows.realnvp import RealNVPConfig
from ..setup import Setup
from ..training.loop import Training
from . import peers
from .suite import SPEED_DATA

STEPS = 20
MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul"}


def step_profile(run: Callable[[int], object], steps: int = STEPS) -> dict:
    """Top-level operators per step, the most frequent ones, and the matrix products' share of self CPU time."""
    run(5)  # warm: allocations, lazy state
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(steps)
    events = [e for e in prof.events() if e.name.startswith("aten::")]
    top = [e for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
    self_us = sum(e.self_cpu_time_total for e in events)
    matmul_us = sum(e.self_cpu_time_total for e in events if e.name in MATMULS)
    counts = collections.Counter(e.name for e in top)
    return {"ops_per_step": len(top) / steps, "matmul_share": matmul_us / max(self_us, 1e-9),
            "most_frequent": [(name, n / steps) for name, n in counts.most_common(8)]}


def profiles(data_name: str, steps: int = STEPS) -> dict[str, dict]:
    """Our RealNVP and each available peer RealNVP, at our defaults and the benchmark's batch for the data,
    over `steps` profiled steps each."""
    torch.set_num_threads(1)
    data, batch = load_dataset(data_name), SPEED_DATA[data_name]
    ours = Training(lambda: Setup(model="realnvp").build_model(data), data,
                    TrainConfig(steps=1_000_000, batch_size=batch), device="cpu")
    out = {"genmodels": step_profile(ours.train, steps)}
    for peer in [p for p in peers.available() if p.speed]:
        loop = peers.OwnLoop(peer, RealNVPConfig(), data, batch, torch.device("cpu"))
        out[peer.library] = step_profile(loop.run, steps)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="moons", choices=list(SPEED_DATA))
    args = parser.parse_args(argv)
    print(f"RealNVP training step on {args.data}, batch {SPEED_DATA[args.data]}, 1 thread "
          f"(load average {os.getloadavg()[0]:.1f})")
    for library, p in profiles(args.data).items():
        frequent = ", ".join(f"{name[6:]} {n:g}" for name, n in p["most_frequent"])
        print(f"- {library}: {p['ops_per_step']:.0f} operators per step, {p['matmul_share']:.0%} of self CPU time "
              f"in matrix products; most dispatched: {frequent}")


if __name__ == "__main__":
    main()
