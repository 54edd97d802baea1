"""`python -m genmodels bench`: how fast and how well the models train on this machine.

For each model family (one representative with --quick, every registered model
otherwise) and, where installed, the peer libraries' RealNVP of the same size
(`peers.py`, trained by the same Trainer on the same batches), it measures:

- `steps_per_s` headless (`Trainer(visual_interval=None)`), with 1 thread and all threads;
- `ui_ratio`: steps/s while the trainer also computes the UI's visuals every
  `UI_INTERVAL` s (the app's refresh), over headless steps/s. Each UI run starts with
  one visual due at once, so the ratio is slightly pessimistic for short runs;
- for exact-likelihood models on 2D data ("fit" records, 1 thread, batch 512): the
  training time (evaluations excluded) until the held-out NLL first reaches
  `TARGET_NLL`, the held-out NLL at the end, and the data's entropy where known
  (`Dataset.entropy`: 8gaussians by Monte Carlo, checkerboard log 32; see
  `genmodels.data`), so test_nll - entropy is the gap to the best possible model;
- peak resident memory of the process while a contender is built and warmed up
  (Linux: VmHWM after resetting it; elsewhere the lifetime maximum) and, on CUDA,
  peak allocated memory.

Timings on a shared CPU are noisy, so contenders are measured interleaved (each
repeat visits every contender once, back to back) and the median is reported;
ratios to peers compare numbers taken minutes apart in the same process.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import peers
from .config import TrainConfig
from .data import Dataset, load_dataset
from .device import pick_device
from .metrics import test_nll
from .models import MODELS, GenerativeModel
from .setup import Setup
from .train import Trainer

UI_INTERVAL = 0.25  # seconds between the app's refreshes (its live fragment's run_every)
SPEED_DATA = {"moons": 512, "digits": 128}  # dataset -> batch size
FIT_BATCH = 512
WARM_UP_S = 0.3  # untimed first steps of each contender (allocations, lazy init)
TARGET_NLL = {"moons": 2.45, "8gaussians": 2.95, "checkerboard": None}  # nats; None: entropy gap only
MAX_STEPS = 1_000_000


@dataclass(frozen=True)
class Budget:
    seconds: float = 3.0  # one timed run of one contender
    repeats: int = 3  # interleaved repeats; the median is reported
    fit_seconds: float = 60.0  # training-time cap of one fit
    eval_every: int = 50  # steps between held-out evaluations of a fit
    fit_data: tuple[str, ...] = ("moons", "8gaussians", "checkerboard")
    speed_data: tuple[str, ...] = tuple(SPEED_DATA)
    all_models: bool = True  # every registered model, else one per family
    stop_at_target: bool = False  # end a fit when it reaches its target


FULL = Budget()
QUICK = Budget(seconds=1.0, repeats=2, fit_seconds=10.0, fit_data=("moons", "8gaussians"),
               all_models=False, stop_at_target=True)


@dataclass(frozen=True)
class Contender:
    library: str  # "genmodels" or a peer library
    model: str
    build: Callable[[Dataset], GenerativeModel]


def representatives() -> list[str]:
    """The first registered model of each family."""
    first: dict[str, str] = {}
    for name, cls in MODELS.items():
        first.setdefault(cls.family, name)
    return list(first.values())


def contenders(all_models: bool) -> list[Contender]:
    """Our models (all, or one per family), then the peers' RealNVP."""
    names = list(MODELS) if all_models else representatives()
    out = [Contender("genmodels", name, lambda data, name=name: Setup(model=name).build_model(data)) for name in names]
    if "realnvp" in MODELS:
        config = MODELS["realnvp"].Config()
        for library, build in peers.available().items():
            out.append(Contender(library, "realnvp", lambda data, build=build: build(config, data.dim)))
    return out


def missing_peers() -> list[str]:
    return [name for name in peers.BUILDERS if name not in peers.available()]


# -- memory -----------------------------------------------------------------------------------
class PeakMemory:
    """Peak resident memory of this process over a `with` block, and peak CUDA memory on `device`."""

    def __init__(self, device: torch.device):
        self.device, self.rss_mb, self.cuda_mb = device, None, None

    def __enter__(self) -> PeakMemory:
        try:  # Linux: writing 5 to clear_refs resets VmHWM to the current RSS
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        self.rss_mb = peak_rss_mb()
        if self.device.type == "cuda":
            self.cuda_mb = torch.cuda.max_memory_allocated(self.device) / 2**20


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024
    except (OSError, AttributeError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# -- timing -----------------------------------------------------------------------------------
def make_trainer(c: Contender, data: Dataset, batch: int, device: torch.device) -> Trainer:
    config = TrainConfig(steps=MAX_STEPS, batch_size=batch, seed=0)
    return Trainer(lambda: c.build(data), data, config, device=str(device), visual_interval=None)


def timed_rate(trainer: Trainer, seconds: float, visual_interval: float | None = None) -> float:
    """Steps/s of `trainer.run` over about `seconds`; with an interval it publishes visuals as the app's worker does.

    `run` is called with growing step counts sized from the rate so far, so a slow or
    busy machine still stops on time.
    """
    trainer.visual_interval = visual_interval
    steps, elapsed, n = 0, 0.0, 1
    while elapsed < seconds:
        before, start = trainer.step_count, time.perf_counter()
        trainer.run(n)
        elapsed += time.perf_counter() - start
        steps += trainer.step_count - before
        n = max(1, min(4 * n, round(steps / elapsed * (seconds - elapsed))))
    return steps / elapsed


def measure_speed(group: list[Contender], data: Dataset, batch: int, threads: int, device: torch.device,
                  budget: Budget) -> list[dict]:
    """Headless and UI steps/s of every contender, interleaved `budget.repeats` times."""
    torch.set_num_threads(threads)
    runs = []
    for c in group:
        ours = c.library == "genmodels"
        with PeakMemory(device) as mem:  # build, first steps and (ours) one round of visuals
            trainer = make_trainer(c, data, batch, device)
            timed_rate(trainer, WARM_UP_S, UI_INTERVAL if ours else None)
        runs.append((c, trainer, mem, [], [] if ours else None))
    for _ in range(budget.repeats):
        for c, trainer, _mem, headless, ui in runs:
            headless.append(timed_rate(trainer, budget.seconds))
            if ui is not None:
                ui.append(timed_rate(trainer, budget.seconds, UI_INTERVAL) / headless[-1])
    return [
        record(c, data, batch, threads, device, mem, kind="speed", steps=trainer.step_count,
               steps_per_s=statistics.median(headless), ui_ratio=statistics.median(ui) if ui else None)
        for c, trainer, mem, headless, ui in runs
    ]


def measure_fit(c: Contender, data: Dataset, device: torch.device, budget: Budget) -> dict:
    """Train until the held-out NLL reaches the target (or the time cap); evaluations are not timed."""
    target = TARGET_NLL.get(data.name)
    with PeakMemory(device) as mem:
        trainer = make_trainer(c, data, FIT_BATCH, device)
        x_test = torch.as_tensor(data.test, device=trainer.device)
        train_s, reached, nll, status = 0.0, None, math.inf, "running"
        while train_s < budget.fit_seconds:
            start = time.perf_counter()
            status = trainer.run(budget.eval_every).status
            train_s += time.perf_counter() - start
            if status == "diverged":
                break
            nll = test_nll(trainer.model, x_test)
            if reached is None and target is not None and nll <= target:
                reached = train_s
                if budget.stop_at_target:
                    break
    return record(c, data, FIT_BATCH, torch.get_num_threads(), device, mem, kind="fit", steps=trainer.step_count,
                  steps_per_s=trainer.step_count / train_s, time_to_target_s=reached, target_nll=target,
                  test_nll=nll, fit_seconds=train_s, status=status)


def record(c: Contender, data: Dataset, batch: int, threads: int, device: torch.device, mem: PeakMemory,
           **measured) -> dict:
    base = {"library": c.library, "model": c.model, "family": MODELS[c.model].family, "data": data.name,
            "batch": batch, "threads": threads, "device": str(device), "steps_per_s": None, "ui_ratio": None,
            "time_to_target_s": None, "target_nll": None, "test_nll": None, "entropy": data.entropy,
            "peak_rss_mb": mem.rss_mb, "cuda_peak_mb": mem.cuda_mb}
    return {**base, **measured}


# -- the whole run ----------------------------------------------------------------------------
def run_benchmarks(budget: Budget = FULL, log: Callable[[str], None] = print) -> list[dict]:
    """Every measurement of the budget, on the CPU and on the best other device if there is one."""
    group = contenders(budget.all_models)
    for name in missing_peers():
        log(f"note: {name} is not installed (pip install -r requirements-dev.txt); skipping its RealNVP")
    devices = [torch.device("cpu")] + [d for d in [pick_device()] if d.type != "cpu"]
    all_threads = os.cpu_count() or 1
    saved_threads, records = torch.get_num_threads(), []
    try:
        for device in devices:
            thread_counts = sorted({1, all_threads}) if device.type == "cpu" else [saved_threads]
            for name in budget.speed_data:
                data = load_dataset(name)
                for threads in thread_counts:
                    log(f"speed: {name} on {device}, {threads} thread(s)")
                    records += measure_speed(group, data, SPEED_DATA[name], threads, device, budget)
            torch.set_num_threads(1 if device.type == "cpu" else saved_threads)
            for name in budget.fit_data:
                data = load_dataset(name)
                for c in group:
                    if _has_log_prob(c, data):
                        log(f"fit: {c.library} {c.model} on {name} ({device})")
                        records.append(measure_fit(c, data, device, budget))
    finally:
        torch.set_num_threads(saved_threads)
    return records


def _has_log_prob(c: Contender, data: Dataset) -> bool:
    return c.library != "genmodels" or MODELS[c.model].log_prob is not GenerativeModel.log_prob


def peer_ratios(records: list[dict]) -> list[str]:
    """Our RealNVP over each peer's: steps/s in each speed configuration, and time to target."""
    ours = {_key(r): r for r in records if r["library"] == "genmodels" and r["model"] == "realnvp"}
    lines = []
    for r in records:
        mine = ours.get(_key(r))
        if r["library"] == "genmodels" or mine is None:
            continue
        where = f"{r['data']}, batch {r['batch']}, {r['threads']} thread(s), {r['device']}"
        if r["kind"] == "speed":
            lines.append(f"realnvp vs {r['library']} ({where}): {mine['steps_per_s'] / r['steps_per_s']:.2f}x steps/s")
        elif mine["time_to_target_s"] and r["time_to_target_s"]:
            lines.append(f"realnvp vs {r['library']} ({where}): "
                         f"{r['time_to_target_s'] / mine['time_to_target_s']:.2f}x faster to NLL {r['target_nll']}")
    return lines


def _key(r: dict) -> tuple:
    return r["kind"], r["data"], r["batch"], r["threads"], r["device"]


# -- the report -------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    out = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs",
           "cpu": cpu, "python": platform.python_version()}
    for package in ("torch", "numpy", "zuko", "normflows"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "not installed"
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def markdown(records: list[dict], budget: Budget, info: dict[str, str]) -> str:
    mode = "--quick" if budget != FULL else "full"
    lines = [
        "# Benchmarks",
        "",
        f"`python -m genmodels bench` ({mode}), {info['date']}.",
        "",
        *(f"- {k}: {v}" for k, v in info.items() if k != "date"),
        "",
        f"Median of {budget.repeats} interleaved runs of {budget.seconds:g} s each; a shared machine's "
        "timings are noisy, so compare rows of one table, not across runs. UI ratio = steps/s while "
        f"visuals are computed every {UI_INTERVAL} s / headless steps/s. Peers (zuko, normflows) are "
        "their RealNVP with our RealNVP's layers, width and depth, trained by our Trainer and optimiser.",
        "",
        "## Training speed",
        "",
        "| library | model | data | batch | threads | device | steps/s | UI ratio | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] == "speed":
            lines.append(f"| {r['library']} | {r['model']} | {r['data']} | {r['batch']} | {r['threads']} | "
                         f"{r['device']} | {_fmt(r['steps_per_s'])} | {_fmt(r['ui_ratio'], 2)} | "
                         f"{_fmt(r['peak_rss_mb'], 4)} |")
    stop = "stopped at the target" if budget.stop_at_target else "after the cap"
    lines += [
        "",
        f"## Fit: time to a held-out NLL (batch {FIT_BATCH}, cap {budget.fit_seconds:g} s of training, "
        f"evaluated every {budget.eval_every} steps, NLL {stop})",
        "",
        "| library | model | data | threads | target NLL | time to target s | steps | steps/s | test NLL | entropy | gap |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["kind"] == "fit":
            gap = r["test_nll"] - r["entropy"] if r["entropy"] is not None else None
            reached = _fmt(r["time_to_target_s"]) if r["target_nll"] is None or r["time_to_target_s"] else \
                f"> {r['fit_seconds']:.0f}"
            lines.append(f"| {r['library']} | {r['model']} | {r['data']} | {r['threads']} | {_fmt(r['target_nll'])} | "
                         f"{reached} | {r['steps']} | {_fmt(r['steps_per_s'])} | {_fmt(r['test_nll'], 4)} | "
                         f"{_fmt(r['entropy'], 4)} | {_fmt(gap, 2)} |")
    ratios = peer_ratios(records)
    if ratios:
        lines += ["", "## Our RealNVP against the peers", "", *(f"- {line}" for line in ratios)]
    return "\n".join(lines) + "\n"
