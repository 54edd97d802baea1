"""`python -m genmodels bench`: how fast and how well the models train on this machine.

For each model family (one representative with --quick, every registered model
otherwise) and the peers (`peers.py`: a plain torch RealNVP, and where installed zuko's and
normflows' RealNVP of the same size and zuko's NSF, each trained by its own documented loop), it
measures:

- `steps_per_s` headless (`Trainer(visual_interval=None)`), with 1 thread and all threads;
- `ui_ratio` (1 thread, as the app trains): steps/s while the trainer also computes the
  UI's visuals every `UI_INTERVAL` s at most (the app's refresh), over headless steps/s.
  It is timed over whole periods of the visuals (`ui_rate`), so a slow visual that comes
  every few seconds counts once per period, neither never nor twice in a short window.
  (`python -m playground.bench` adds the cost of drawing them on an open page.);
- RealNVP once more with `TrainConfig.compile` (torch.compile), with `compile_s`, the
  seconds its first step took to compile (less when inductor's disk cache has the graph);
- for exact-likelihood models on 2D data ("fit" records, 1 thread, batch 512): the
  training time (evaluations excluded) until the held-out NLL first reaches
  `TARGET_NLL`, the held-out NLL at the end, and the data's entropy where known
  (`Dataset.entropy`: 8gaussians by Monte Carlo, checkerboard log 32; see
  `genmodels.data`), so test_nll - entropy is the gap to the best possible model;
- the resident memory a contender adds while it is built and warmed up: the process's
  peak over that time (Linux: VmHWM after resetting it) less its size when it began, so
  contenders measured earlier and still alive do not count (on CUDA: peak allocated memory).

Timings on a shared CPU are noisy, so contenders are measured interleaved (each
repeat visits every contender once, back to back) and the median is reported;
ratios to peers compare numbers taken minutes apart in the same process.
"""

from __future__ import annotations

import dataclasses
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
from functools import partial

import psutil
import torch

from ..config import TrainConfig
from ..data import Dataset, load_dataset
from ..device import pick_device
from ..errors import UserError
from ..evaluation.metrics import test_nll
from ..hosting.limiter import Limiter
from ..hosting.limits import count_parameters
from ..hosting.trainer import Trainer
from ..models import MODELS, GenerativeModel
from ..setup import Setup, default_setup
from . import peers
from .report import table

UI_INTERVAL = 0.25  # seconds between the app's refreshes (its live fragment's run_every)
SPEED_DATA = {"moons": 512, "digits": 128}  # dataset -> batch size
FIT_BATCH = 512
TARGET_NLL = {"moons": 2.45, "8gaussians": 2.95, "checkerboard": None}  # nats; None: entropy gap only
MAX_STEPS = 1_000_000


@dataclass(frozen=True)
class Budget:
    seconds: float = 2.0  # one timed run of one contender
    warm_up: float = 0.5  # untimed first run of each contender (allocations, lazy init, first visuals)
    repeats: int = 3  # interleaved repeats; the median is reported
    fit_seconds: float = 30.0  # training-time cap of one fit
    eval_every: int = 50  # steps between held-out evaluations of a fit
    fit_data: tuple[str, ...] = ("moons", "8gaussians", "checkerboard")
    speed_data: tuple[str, ...] = tuple(SPEED_DATA)
    all_models: bool = True  # every registered model, else one per family
    stop_at_target: bool = False  # end a fit when it reaches its target


FULL = Budget()
QUICK = Budget(seconds=0.75, warm_up=0.3, repeats=2, fit_seconds=10.0, fit_data=("moons", "8gaussians"),
               all_models=False, stop_at_target=True)


@dataclass(frozen=True)
class Contender:
    library: str  # "genmodels" or a peer library
    model: str
    build: Callable[[Dataset], GenerativeModel]
    fit: bool = True  # also measure its time to target
    compiled: bool = False  # trained with TrainConfig.compile
    peer: peers.Peer | None = None  # a peer, trained by its own loop (`peers.OwnLoop`), not by our Trainer
    speed: bool = True  # also measure its steps/s
    app_default: bool = False  # fit as the app opens the data (`default_setup`: model, settings, lr, batch)


def representatives() -> list[str]:
    """The first registered model of each family."""
    first: dict[str, str] = {}
    for name, cls in MODELS.items():
        first.setdefault(cls.family, name)
    return list(first.values())


def contenders(all_models: bool) -> list[Contender]:
    """Our models (all, or one per family), our RealNVP compiled, then the peers (`peers.available`)."""
    names = list(MODELS) if all_models else representatives()
    out = [Contender("genmodels", name, partial(_ours, name)) for name in names]
    if "realnvp" in MODELS:
        out.append(Contender("genmodels", "realnvp", partial(_ours, "realnvp"), compiled=True))
        out += [Contender(p.library, p.model, partial(_ours, p.model), peer=p, speed=p.speed)
                for p in peers.available()]
    return out


def app_default(data_name: str) -> Contender:
    """The app's default setup on `data_name`, for its time to target."""
    setup = default_setup(data_name)
    return Contender("genmodels", setup.model, setup.build_model, speed=False, app_default=True)


def _ours(name: str, data: Dataset) -> GenerativeModel:
    return Setup(model=name).build_model(data)


def missing_peers() -> list[str]:
    return [name for name in peers.PACKAGES if name not in {p.package for p in peers.available()}]


# -- memory -----------------------------------------------------------------------------------
class PeakMemory:
    """Resident memory a `with` block adds at its peak (over the RSS when it began), and peak CUDA memory."""

    def __init__(self, device: torch.device):
        self.device, self.rss_mb, self.cuda_mb, self.baseline_mb = device, None, None, 0.0

    def __enter__(self) -> PeakMemory:
        try:  # Linux: writing 5 to clear_refs resets VmHWM to the current RSS
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        self.baseline_mb = psutil.Process().memory_info().rss / 2**20
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        self.rss_mb = max(0.0, peak_rss_mb() - self.baseline_mb)
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
def make_trainer(c: Contender, data: Dataset, batch: int, device: torch.device
                 ) -> tuple[Trainer | peers.OwnLoop, float | None]:
    """The contender's trainer (a peer's own loop), and for a compiled one the seconds its first step took
    (compiling it)."""
    if c.peer is not None:
        return peers.OwnLoop(c.peer, MODELS["realnvp"].Config(), data, batch, device), None
    config = (dataclasses.replace(default_setup(data.name).train, steps=MAX_STEPS, seed=0) if c.app_default
              else TrainConfig(steps=MAX_STEPS, batch_size=batch, seed=0, compile=c.compiled))
    trainer = Trainer(lambda: c.build(data), data, config, device=str(device), visual_interval=None,
                      limiter=Limiter(1))
    if not c.compiled:
        return trainer, None
    start = time.perf_counter()
    trainer.run(1)
    return trainer, time.perf_counter() - start


def timed_rate(trainer: Trainer, seconds: float) -> tuple[float, float]:
    """Headless steps per wall-clock second and per CPU second of this process, over about `seconds`.

    The trainer's background worker runs as the app runs it. `pause` returns once the
    running chunk has ended, so every counted step is timed. CPU time ignores other
    processes that compete for the cores, so on a shared machine it compares contenders better.
    A peer's own loop times itself the same way, in the caller's thread.
    """
    if isinstance(trainer, peers.OwnLoop):
        return trainer.timed_rate(seconds)
    trainer.visual_interval = None
    before, start, cpu = trainer.training.step, time.perf_counter(), time.process_time()
    trainer.start()
    time.sleep(seconds)
    trainer.pause()
    steps = trainer.training.step - before
    return steps / (time.perf_counter() - start), steps / max(time.process_time() - cpu, 1e-9)


def ui_rate(trainer: Trainer, seconds: float, visual_interval: float = UI_INTERVAL) -> float:
    """Steps per second while the worker also makes visuals every `visual_interval` s at most, as for
    an open page: from one visuals' publication to the first one at least `seconds` later, so the
    window holds whole periods (the visuals' time and the steps between them), however rare they are."""
    trainer.visual_interval = visual_interval
    trainer.start()
    try:
        step, start = next_visuals(trainer)
        time.sleep(seconds)
        end_step, end = next_visuals(trainer)
    finally:
        trainer.pause()
    return (end_step - step) / (end - start)


def next_visuals(trainer: Trainer, poll: float = 0.005, timeout: float = 300.0) -> tuple[int, float]:
    """The step of the next visuals the running trainer publishes, and when they were seen."""
    seen, deadline = trainer.snapshot().visuals_step, time.monotonic() + timeout
    while (snap := trainer.snapshot()).visuals_step == seen:
        if not trainer.active or time.monotonic() > deadline:
            raise RuntimeError(f"no new visuals while timing the UI rate ({snap.status}: {snap.message})")
        time.sleep(poll)
    return snap.visuals_step, time.perf_counter()


def measure_speed(group: list[Contender], data: Dataset, batch: int, threads: int, device: torch.device,
                  budget: Budget) -> list[dict]:
    """Headless and UI steps/s of every contender, interleaved `budget.repeats` times."""
    torch.set_num_threads(threads)
    runs = []
    for c in [c for c in group if c.speed and models_the_data(c, data)]:
        ui = c.library == "genmodels" and (device.type != "cpu" or threads == 1)  # the app trains with one thread
        with PeakMemory(device) as mem:  # build, first steps and (ours) one round of visuals
            trainer, compile_s = make_trainer(c, data, batch, device)
            ui_rate(trainer, budget.warm_up) if ui else timed_rate(trainer, budget.warm_up)
        runs.append((c, trainer, mem, compile_s, [], [], [] if ui else None))
    for _ in range(budget.repeats):
        for _c, trainer, _mem, _compile_s, wall, cpu, ui in runs:
            rates = timed_rate(trainer, budget.seconds)
            wall.append(rates[0])
            cpu.append(rates[1])
            if ui is not None:
                ui.append(ui_rate(trainer, budget.seconds) / rates[0])
    records = [
        record(c, data, batch, threads, device, mem, trainer, kind="speed", steps_per_s=statistics.median(wall),
               steps_per_cpu_s=statistics.median(cpu), ui_ratio=statistics.median(ui) if ui else None,
               compile_s=compile_s)
        for c, trainer, mem, compile_s, wall, cpu, ui in runs
    ]
    for run in runs:
        run[1].close()
    return records


def measure_fit(c: Contender, data: Dataset, device: torch.device, budget: Budget) -> dict:
    """Train until the held-out NLL reaches the target (or the time cap); evaluations are not timed,
    building the model is, and so is compiling it (both are part of the wait)."""
    target, x_test = TARGET_NLL.get(data.name), torch.as_tensor(data.test, device=device)
    with PeakMemory(device) as mem:
        start, cpu = time.perf_counter(), time.process_time()
        trainer, compile_s = make_trainer(c, data, FIT_BATCH, device)
        train_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        reached, nll, status = None, math.inf, "running"
        while True:  # at least one evaluation, even when compiling took the whole budget
            start, cpu = time.perf_counter(), time.process_time()
            status = trainer.run(budget.eval_every).status
            train_s += time.perf_counter() - start
            cpu_s += time.process_time() - cpu
            if status == "diverged":
                break
            nll = test_nll(trainer.model, x_test)
            if reached is None and target is not None and nll <= target:
                reached = train_s
            if train_s >= budget.fit_seconds or reached is not None and budget.stop_at_target:
                break
    batch = trainer.config.batch_size if isinstance(trainer, Trainer) else FIT_BATCH
    return record(c, data, batch, torch.get_num_threads(), device, mem, trainer, kind="fit",
                  steps_per_s=trainer.training.step / train_s, steps_per_cpu_s=trainer.training.step / cpu_s,
                  time_to_target_s=reached, target_nll=target, compile_s=compile_s,
                  test_nll=nll, fit_seconds=train_s, status=status)


def record(c: Contender, data: Dataset, batch: int, threads: int, device: torch.device, mem: PeakMemory,
           trainer: Trainer, **measured) -> dict:
    base = {"library": c.library, "model": c.model, "compiled": c.compiled, "app_default": c.app_default,
            "compile_s": None, "family": MODELS[c.model].family, "data": data.name,
            "batch": batch, "threads": threads, "device": str(device), "optimizer": optimizer_label(trainer),
            "steps": trainer.training.step, "steps_per_s": None, "steps_per_cpu_s": None, "ui_ratio": None,
            "time_to_target_s": None,
            "target_nll": None, "test_nll": None, "entropy": data.entropy, "added_rss_mb": mem.rss_mb,
            "cuda_peak_mb": mem.cuda_mb}
    return {**base, **measured}


def optimizer_label(trainer: Trainer) -> str:
    """Each phase's optimiser, e.g. 'Adam (fused)' or 'Adam' (torch's default per-tensor loop on a CPU)."""
    return ", ".join(sorted({type(o).__name__ + (" (fused)" if o.defaults.get("fused") else "")
                             for o in trainer.training.optimizers.values()}))


# -- the whole run ----------------------------------------------------------------------------
def run_benchmarks(budget: Budget = FULL, log: Callable[[str], None] = print,
                   devices: list[torch.device] | None = None) -> list[dict]:
    """Every measurement of the budget on each device: by default the CPU, and the best other device if any."""
    group = contenders(budget.all_models)
    for name in missing_peers():
        log(f"note: {name} is not installed (pip install -r requirements-dev.txt); skipping its RealNVP")
    devices = devices or [torch.device("cpu")] + [d for d in [pick_device()] if d.type != "cpu"]
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
                for c in [*group, app_default(name)]:
                    if c.fit and _has_log_prob(c):
                        log(f"fit: {c.library} {c.model} on {name} ({device})")
                        records.append(measure_fit(c, data, device, budget))
    finally:
        torch.set_num_threads(saved_threads)
    return records


def models_the_data(c: Contender, data: Dataset) -> bool:
    """False for a contender whose model refuses this data (the 2D-only diffusion family on images)."""
    try:
        count_parameters(lambda: c.build(data))  # on the meta device: nothing is allocated
    except UserError:
        return False
    return True


def _has_log_prob(c: Contender) -> bool:
    return c.library != "genmodels" or MODELS[c.model].log_prob is not GenerativeModel.log_prob


PEER_HEADER = ["peer", "its optimizer", "measure", "data", "batch", "threads", "device", "our eager RealNVP",
               "our compiled RealNVP", "the app's default setup"]


def peer_ratios(records: list[dict]) -> list[list[str]]:
    """A row per peer record: our RealNVP (eager, compiled) over the peer in the same configuration,
    as steps/s (speed) or as the peer's time to the target NLL over ours (fit: compiling included;
    a fit without a target, e.g. checkerboard's entropy gap alone, has no row); and for fits, the app's
    default setup on that data (its own batch) over the peer."""
    ours = {(_key(r), r["compiled"]): r for r in records
            if r["library"] == "genmodels" and r["model"] == "realnvp" and not r["app_default"]}
    defaults = {_key({**r, "batch": FIT_BATCH}): r for r in records if r["app_default"]}  # beside batch-512 peers
    rows = []
    for r in records:
        if r["library"] != "genmodels" and (r["kind"] == "speed" or r["target_nll"] is not None):
            ratios = [_ratio(ours.get((_key(r), compiled)), r) for compiled in (False, True)]
            ratios.append(_ratio(defaults.get(_key(r)), r))
            measure = "steps/s" if r["kind"] == "speed" else f"time to NLL {r['target_nll']}"
            peer = r["library"] if r["model"] == "realnvp" else f"{r['library']} {r['model']}"
            rows.append([peer, r["optimizer"], measure, r["data"], str(r["batch"]), str(r["threads"]),
                         r["device"], *ratios])
    return rows


def _ratio(mine: dict | None, peer: dict) -> str:
    """How many times faster ours is, '–' where either has no number (e.g. no step in a tiny budget)."""
    if mine is None:
        return "–"
    if peer["kind"] == "speed":
        ok = mine["steps_per_s"] and peer["steps_per_s"]
        return f"{mine['steps_per_s'] / peer['steps_per_s']:.2f}x" if ok else "–"
    ok = mine["time_to_target_s"] and peer["time_to_target_s"]
    return f"{peer['time_to_target_s'] / mine['time_to_target_s']:.2f}x" if ok else "–"


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
    out = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs",
           "cpu": cpu, "python": platform.python_version()}
    for package in ("torch", "numpy", "zuko", "normflows"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "not installed"
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
    if hasattr(os, "getloadavg"):
        out["load average"] = "{:.1f} (1 min), {:.1f} (5 min), {:.1f} (15 min)".format(*os.getloadavg())
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def model_label(r: dict) -> str:
    """e.g. 'realnvp', 'realnvp compiled (21 s)' with the seconds its first step took to compile, or
    'nsf (app default, batch 1024)'."""
    if r["app_default"]:
        return f"{r['model']} (app default, batch {r['batch']})"
    return f"{r['model']} compiled ({r['compile_s']:.0f} s)" if r["compiled"] else r["model"]


def speed_row(r: dict) -> list[str]:
    return [r["library"], model_label(r), r["optimizer"], r["data"], str(r["batch"]), str(r["threads"]), r["device"],
            _fmt(r["steps_per_s"]), _fmt(r["steps_per_cpu_s"]), _fmt(r["ui_ratio"], 2), _fmt(r["added_rss_mb"], 4)]


def fit_row(r: dict) -> list[str]:
    reached = _fmt(r["time_to_target_s"])
    if r["target_nll"] is not None and r["time_to_target_s"] is None:
        reached = f"> {r['fit_seconds']:.0f}"
    gap = r["test_nll"] - r["entropy"] if r["entropy"] is not None else None
    return [r["library"], model_label(r), r["data"], _fmt(r["target_nll"]), reached, str(r["steps"]),
            _fmt(r["steps_per_s"]), _fmt(r["test_nll"], 4), _fmt(r["entropy"], 4), _fmt(gap, 2),
            _fmt(r["added_rss_mb"], 4)]


def markdown(records: list[dict], budget: Budget, info: dict[str, str]) -> str:
    """BENCHMARKS.md: the machine, then speed, fit and peer-ratio sections."""
    mode = {QUICK: "--quick", FULL: "full"}.get(budget, "custom budget")
    stop = "stopped at the target" if budget.stop_at_target else "trained to the cap"
    lines = [
        "# Benchmarks",
        "",
        f"`python -m genmodels bench` ({mode}), {info['date']}.",
        "",
        *(f"- {k}: {v}" for k, v in info.items() if k != "date"),
        "",
        f"Median of {budget.repeats} interleaved runs of {budget.seconds:g} s per configuration. Timings on a "
        "shared machine are noisy: compare rows of one table (measured minutes apart), not separate runs. "
        f"UI ratio = steps/s while the trainer also computes the page's visuals (every {UI_INTERVAL} s at most, "
        "and no more than GENMODELS_LIVE_SHARE of the time) over headless steps/s, timed over whole periods of the "
        "visuals. Peers (genmodels/bench/peers.py), each trained by its own documented loop (torch's Adam, "
        "no trainer): plain-torch is RealNVP written the obvious way (masks, separate s and t networks), "
        "zuko and normflows their RealNVP, all three with our RealNVP's layers, width and depth; zuko nsf is "
        "zuko's NSF as its guide builds it (time to target only).",
        "",
        "## Training speed",
        "",
        *table(["library", "model", "optimizer", "data", "batch", "threads", "device", "steps/s", "steps/CPU s",
                "UI ratio", "added RSS MB"], [speed_row(r) for r in records if r["kind"] == "speed"]),
        "",
        f"## Time to a held-out NLL (batch {FIT_BATCH}, 1 CPU thread, at most {budget.fit_seconds:g} s of "
        f"training, evaluated every {budget.eval_every} steps, {stop})",
        "",
        "Entropy (the best possible NLL): 8gaussians by Monte Carlo, log 8 + 1 + log 2πσ² less the overlap "
        "of its components; checkerboard log 32, uniform on 8 squares of area 4. Gap = test NLL − entropy.",
        "",
        *table(["library", "model", "data", "target NLL", "time to target s", "steps", "steps/s", "test NLL",
                "entropy", "gap", "added RSS MB"], [fit_row(r) for r in records if r["kind"] == "fit"]),
    ]
    ratios = peer_ratios(records)
    if ratios:
        lines += ["", "## Our RealNVP against the peers", "",
                  "How many times faster ours is: steps/s over the peer's, or the peer's time to the target "
                  "over ours (the app's default setup: the model, settings, lr and batch the app opens that "
                  "data with).", "", *table(PEER_HEADER, ratios)]
    return "\n".join(lines) + "\n"
