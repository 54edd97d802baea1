"""The GAN table of `python -m genmodels bench`: mode coverage at a fixed budget, beside the papers' anchors.

Every GAN objective (with its defaults), and the ablations of the best one (packing off
or at 4, R1 on, narrower networks), is trained on ring8 and grid25 for several seeds, once for a fixed number of
generator steps and once for a fixed number of CPU seconds (1 thread). Each run is
scored on N_EVAL = 2,500 samples with the protocol of VEEGAN (Srivastava et al. 2017,
Table 1) and PacGAN (Lin et al. 2018, Table 1): a sample is high quality within 3σ of
its nearest centre, a mode is covered by at least one high-quality sample; reverse KL
is KL(G ‖ data) between smoothed histograms (`evaluation.metrics`).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from ..data import load_dataset
from ..evaluation.metrics import N_EVAL, histogram_divergences, histogram_edges, mode_coverage
from ..models import MODELS
from ..setup import Setup
from ..training.loop import Training
from . import report
from .report import table

EVAL_SEED = 0
BLOCK = 25  # rounds between two looks at the CPU clock
BEST = "nsgan"  # the objective whose ablations are measured
ANCHORS = (  # (method, ring8 modes, ring8 % hq, grid25 modes, grid25 % hq), the anchors
    ("GAN (VEEGAN 2017, Table 1)", 1.0, 99.3, 3.3, 0.5),
    ("Unrolled GAN (same table)", 7.6, 35.6, 23.6, 16.0),
    ("VEEGAN (same table)", 8.0, 52.9, 24.6, 40.0),
    ("GAN (PacGAN 2018, Table 1)", 6.3, 98.2, 17.3, 94.8),
    ("PacGAN4 (same table)", 7.8, 95.9, 24.8, 93.6),
)


@dataclass(frozen=True)
class GANBudget:
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    steps: int = 3000  # the fixed generator-step budget
    cpu_seconds: float = 60.0  # the fixed CPU-time budget (a lecture minute)
    data: tuple[str, ...] = ("ring8", "grid25")
    ablations: bool = True
    workers: int = max(1, (os.cpu_count() or 2) // 2)  # runs at once, one process and one thread each


FULL = GANBudget()
QUICK = GANBudget(seeds=(0,), steps=100, cpu_seconds=2.0, data=("ring8",), ablations=False, workers=1)


@dataclass(frozen=True)
class Contender:
    label: str
    model: str
    settings: tuple[tuple[str, str], ...] = ()  # changes to the model's defaults, as share-URL pairs


ABLATIONS = (  # what each change to the best objective's defaults does
    ("pack 1", (("pack", "1"),)),
    ("pack 4", (("pack", "4"),)),
    ("r1 1", (("r1", "1"),)),
    ("width 64", (("g_hidden", "64"), ("d_hidden", "64"))),
    ("width 64, depth 2", (("g_hidden", "64"), ("d_hidden", "64"), ("depth", "2"))),  # ring8 96% hq in 60 s
    ("width 64, depth 2, Adam β (0, 0.99)",  # and grid25's 25 modes on every seed
     (("g_hidden", "64"), ("d_hidden", "64"), ("depth", "2"), ("beta1", "0"), ("beta2", "0.99"))),
)


def contenders(ablations: bool) -> list[Contender]:
    """Every GAN objective with its defaults; then the best one with one setting changed (ABLATIONS)."""
    out = [Contender(name, name) for name, cls in MODELS.items() if cls.family == "gan"]
    if ablations and BEST in MODELS:
        out += [Contender(f"{BEST}, {label}", BEST, settings) for label, settings in ABLATIONS]
    return out


def score(model, data) -> dict[str, float]:
    """Modes covered, high-quality fraction and reverse KL of N_EVAL samples drawn from a fixed seed."""
    with torch.no_grad(), model.drawing_from(torch.Generator(model.device).manual_seed(EVAL_SEED)):
        x = model.sample(N_EVAL).cpu().double().numpy()
    covered, high_quality = mode_coverage(x, data.mixture)
    x_data = data.test.astype("float64")
    reverse_kl = histogram_divergences(x_data, x, histogram_edges(x_data))["reverse_kl"]
    return {"modes": int(covered.sum()), "total": len(covered), "high_quality": high_quality,
            "reverse_kl": reverse_kl}


def train_gan(c: Contender, data_name: str, seed: int, steps: int | None = None,
              cpu_seconds: float | None = None) -> dict:
    """One run to `steps` generator steps or `cpu_seconds` of this process's CPU time, whichever comes
    first (building the model included; at least one block), scored by `score`."""
    query = {"data": data_name, "model": c.model, "seed": str(seed), **dict(c.settings)}
    setup = Setup.from_query(query)
    data = load_dataset(data_name, seed)
    cpu, wall = time.process_time(), time.perf_counter()
    run = Training(lambda: setup.build_model(data), data, setup.train, device="cpu")
    limit, status = steps or 10**9, "done"
    while run.step < limit and (cpu_seconds is None or run.step == 0 or time.process_time() - cpu < cpu_seconds):
        if not run.train(min(BLOCK, limit - run.step)):
            status = "diverged"
            break
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    return {"kind": "gan", "label": c.label, "model": c.model, "settings": dict(c.settings), "data": data_name,
            "seed": seed,
            "budget": "steps" if cpu_seconds is None else "cpu_seconds", "steps": run.step, "cpu_s": cpu_s,
            "wall_s": wall_s, "rounds_per_cpu_s": run.step / max(cpu_s, 1e-9), "status": status,
            **score(run.model, data)}


def run_gan_benchmarks(budget: GANBudget = FULL, log: Callable[[str], None] = print) -> list[dict]:
    """Every contender x dataset x seed, at the step budget and at the CPU budget, with 1 torch thread,
    `budget.workers` runs at a time (`report.run_jobs`)."""
    jobs = [(c, data_name, seed, kind) for c in contenders(budget.ablations) for data_name in budget.data
            for seed in budget.seeds for kind in ({"steps": budget.steps}, {"cpu_seconds": budget.cpu_seconds})]
    return report.run_jobs(_run, jobs, budget.workers, partial(_log, log))


def _run(c: Contender, data_name: str, seed: int, kind: dict) -> dict:
    return train_gan(c, data_name, seed, **kind)


def _log(log: Callable[[str], None], r: dict) -> None:
    log(f"gan bench: {r['label']} {r['data']} seed {r['seed']} {r['budget']}: {r['modes']}/{r['total']} "
        f"modes, {100 * r['high_quality']:.1f}% hq, {r['steps']} steps in {r['cpu_s']:.1f} CPU s")


# -- the report -------------------------------------------------------------------------------
def summary(records: list[dict]) -> list[dict]:
    """Mean over seeds of each (label, data, budget): modes, % high quality, reverse KL, rounds/CPU s."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["label"], r["data"], r["budget"]), []).append(r)
    return [{"label": label, "data": data, "budget": budget, "seeds": len(rs), "total": rs[0]["total"],
             "modes": statistics.mean(r["modes"] for r in rs), "min_modes": min(r["modes"] for r in rs),
             "high_quality": statistics.mean(r["high_quality"] for r in rs),
             "reverse_kl": statistics.mean(r["reverse_kl"] for r in rs),
             "steps": statistics.mean(r["steps"] for r in rs), "cpu_s": statistics.mean(r["cpu_s"] for r in rs),
             "rounds_per_cpu_s": statistics.mean(r["rounds_per_cpu_s"] for r in rs),
             "diverged": sum(r["status"] == "diverged" for r in rs)}
            for (label, data, budget), rs in groups.items()]


def markdown_section(records: list[dict], budget: GANBudget) -> list[str]:
    """The GAN section of BENCHMARKS.md: the anchors, then our mean over seeds at each budget."""
    header = ["method", "data", "budget", "seeds", "modes (min)", "% high quality", "reverse KL", "G steps",
              "CPU s", "rounds/CPU s", "diverged"]
    rows = [[s["label"], s["data"], _budget_label(s, budget), str(s["seeds"]),
             f"{s['modes']:.1f}/{s['total']} ({s['min_modes']})", f"{100 * s['high_quality']:.1f}",
             f"{s['reverse_kl']:.3g}", f"{s['steps']:.0f}", f"{s['cpu_s']:.1f}", f"{s['rounds_per_cpu_s']:.0f}",
             str(s["diverged"])] for s in summary(records)]
    anchors = [[name, f"{r8:g} / {r8hq:g}", f"{g25:g} / {g25hq:g}"] for name, r8, r8hq, g25, g25hq in ANCHORS]
    return [
        f"## GANs: mode coverage (1 CPU thread, {N_EVAL:,} samples, high quality = within 3σ of a centre, "
        "a mode is covered by one high-quality sample)",
        "",
        "The papers' anchors (their networks and training lengths):",
        "",
        *table(["method", "ring-8 modes / % hq", "grid-25 modes / % hq"], anchors),
        "",
        f"Ours, mean over seeds: each objective with its defaults, and the ablations of {BEST}; trained for "
        f"{budget.steps} generator steps, or for {budget.cpu_seconds:g} CPU seconds (model building included). "
        "Min is the worst seed's modes.",
        "",
        *table(header, rows),
    ]


def _budget_label(s: dict, budget: GANBudget) -> str:
    return f"{budget.steps} steps" if s["budget"] == "steps" else f"{budget.cpu_seconds:g} CPU s"


def write_section(path: str | Path, lines: list[str]) -> None:
    """Put the GAN section into the markdown file at `path`: in place of an earlier one, else at the end."""
    report.write_section(path, lines, "## GANs")
