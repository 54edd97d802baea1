"""`python -m genmodels.bench.defaults`: which settings bring the app's default flow to a good fit soonest.

For each candidate (a model's settings and the training's lr and batch size) and each target
data set, a run trains (the synchronous `Training` loop, 1 thread, as the app's worker runs it)
until its held-out NLL first reaches `suite.TARGET_NLL`, evaluated every `EVAL_EVERY` steps and
not timed. Time is the training thread's CPU seconds, which other processes on a shared machine
stretch much less than wall-clock seconds; the wall-clock seconds are printed beside them.
Candidates are visited interleaved, seed by seed, so a change in the machine's load spreads over
all of them. `--markdown FILE` appends the table as the "Choosing the defaults" section (after
`make bench` has written BENCHMARKS.md: `make bench-defaults`).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import time
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..evaluation.metrics import test_nll
from ..setup import Setup
from ..training.loop import Training
from .suite import TARGET_NLL

EVAL_EVERY = 25


@dataclass(frozen=True)
class Candidate:
    model: str = "realnvp"
    settings: tuple[tuple[str, object], ...] = ()  # model settings that differ from the defaults
    lr: float = TrainConfig.lr
    batch: int = TrainConfig.batch_size

    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.settings)
        return f"{self.model}({shown}) lr={self.lr:g} batch={self.batch}"

    def setup(self, data: str, seed: int) -> Setup:
        model = Setup(model=self.model).model_config.__class__(**dict(self.settings))
        return Setup(data=data, model=self.model, model_config=model,
                     train=TrainConfig(steps=1_000_000, lr=self.lr, batch_size=self.batch, seed=seed))


def time_to_target(candidate: Candidate, data_name: str, seed: int, cap_s: float) -> dict:
    """CPU and wall seconds of training (building the model included, evaluations not) until the held-out
    NLL reaches the target; cpu_s None when it did not within cap_s CPU seconds or diverged. At least one
    evaluation block is trained, however long building the model took."""
    setup = candidate.setup(data_name, seed)
    data = setup.load_data()
    x_test, target = torch.as_tensor(data.test), TARGET_NLL[data_name]
    clock = Clock()
    with clock:
        training = Training(lambda: setup.build_model(data), data, setup.train, device="cpu")
    nll = math.inf
    while training.step == 0 or (nll > target and clock.cpu < cap_s):
        with clock:
            good = training.train(EVAL_EVERY)
        if not good:
            break
        with torch.no_grad():
            nll = test_nll(training.model, x_test)
    reached = clock.cpu if nll <= target else None
    return {"cpu_s": reached, "wall_s": clock.wall, "nll": nll, "steps": training.step}


class Clock:
    """Sums the CPU seconds (this thread) and wall seconds spent inside its `with` blocks."""

    cpu = wall = 0.0

    def __enter__(self) -> Clock:
        self._cpu, self._wall = time.thread_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu += time.thread_time() - self._cpu
        self.wall += time.perf_counter() - self._wall


def search(candidates: list[Candidate], data_names: tuple[str, ...], seeds: int, cap_s: float,
           log=print) -> list[dict]:
    """Every candidate on every data set for `seeds` seeds, interleaved; one row per candidate and data set
    with the median CPU seconds to the target (a run that missed counts as the cap, and is counted)."""
    torch.set_num_threads(1)
    runs: dict[tuple[Candidate, str], list[dict]] = {}
    for seed, data_name, c in itertools.product(range(seeds), data_names, candidates):
        r = time_to_target(c, data_name, seed, cap_s)
        runs.setdefault((c, data_name), []).append(r)
        log(f"{c.label()} {data_name} seed {seed}: {r['cpu_s']} CPU s, nll {r['nll']:.3f}, {r['steps']} steps")
    rows = []
    for (c, data_name), rs in runs.items():
        cpu = [r["cpu_s"] if r["cpu_s"] is not None else cap_s for r in rs]
        rows.append({"candidate": c.label(), "data": data_name, "median_cpu_s": statistics.median(cpu),
                     "missed": sum(r["cpu_s"] is None for r in rs), "runs": len(rs),
                     "median_wall_s": statistics.median(r["wall_s"] for r in rs),
                     "median_steps": statistics.median(r["steps"] for r in rs)})
    return sorted(rows, key=lambda r: (r["data"], r["missed"], r["median_cpu_s"]))


def markdown(rows: list[dict], seeds: int, cap_s: float) -> str:
    """The "## Choosing the defaults" section: the search's setting, then its table."""
    lines = ["## Choosing the defaults", "",
             f"`python -m genmodels.bench.defaults`: CPU seconds of training (1 thread, the app's synchronous "
             f"loop, evaluations every {EVAL_EVERY} steps not counted) until the held-out NLL first reaches the "
             f"target, median over {seeds} seeds (a run that missed counts as the cap, {cap_s:g} CPU s), "
             f"candidates interleaved; load average {os.getloadavg()[0]:.1f} at the end.", "",
             "| candidate | data | target NLL | median CPU s to target | missed | median wall s | median steps |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['candidate']} | {r['data']} | {TARGET_NLL[r['data']]} | {r['median_cpu_s']:.2f} | "
              f"{r['missed']}/{r['runs']} | {r['median_wall_s']:.2f} | {r['median_steps']:.0f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["moons", "8gaussians"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--cap", type=float, default=10.0, help="CPU seconds of training at most per run")
    parser.add_argument("--model", default="realnvp", help="a flow with layers and hidden settings (realnvp, nsf)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--bins", type=int, nargs="*", default=[], help="spline bins K (nsf); none: its default")
    parser.add_argument("--layers", type=int, nargs="+", default=[8])
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--batch", type=int, nargs="+", default=[TrainConfig.batch_size])
    parser.add_argument("--markdown", help="append the results as a section to this file")
    args = parser.parse_args(argv)
    bins = [(("bins", k),) for k in args.bins] or [()]
    candidates = [Candidate(args.model, (("layers", k), ("hidden", h), *kb), lr, b)
                  for k, h, kb, lr, b in itertools.product(args.layers, args.hidden, bins, args.lr, args.batch)]
    text = markdown(search(candidates, tuple(args.data), args.seeds, args.cap), args.seeds, args.cap)
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
