"""The families table of `python -m genmodels bench`: every family on the same 2D data, by the same metrics.

Each model of MODELS_COMPARED (two flows, the VAE, the best GAN, the three diffusion models and
the EBM) is trained on each 2D dataset for the same CPU seconds (`FamilyBudget.cpu_seconds`: a
diffusion step costs a sixth of a spline flow's, so a fixed number of steps would compare unequal
work), or for a fixed number of steps where no such budget is set (`steps`; the EBM, ten times
slower a step, for a tenth of them), batch 512, 1 thread, several seeds, each run in a process of
its own. Then, on the held-out set:

- test NLL in nats, where the family has one: exact for the flows (change of variables); through
  the probability-flow ODE with the exact 2x2 divergence for ddpm, score and flow-matching
  (`DiffusionModel.log_prob`, RK4 on `nll_steps` steps); for the VAE the IWAE-k bound, an upper
  bound on its NLL; none for the GAN (no density) or the EBM (no normaliser);
- the gap NLL - H(data) where the data's entropy is known (8gaussians, checkerboard, ring8, ...);
- the sliced Wasserstein distance of N_EVAL samples to the held-out set; the "data" row is N_EVAL
  training points scored the same way: the distance a perfect model would get, the metric's floor;
- modes covered and the high-quality share on Gaussian mixtures (`mode_coverage`);
- for the diffusion family on 8gaussians, the training CPU seconds (evaluations excluded) until the
  samples first cover 8/8 modes, looked at every `mode_every` steps.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..config import TrainConfig
from ..data import DATASETS, Dataset, load_dataset
from ..evaluation.metrics import N_EVAL, measure, mode_coverage, sliced_wasserstein
from ..models import MODELS
from ..setup import Setup
from ..training.loop import Training
from . import report
from .report import table

MODELS_COMPARED = ("realnvp", "nsf", "vae", "nsgan", "flow-matching", "ddpm", "score", "ebm")
DIFFUSION = ("flow-matching", "ddpm", "score")
STEP_SHARE = {"ebm": 0.1}  # of the step budget: a contrastive-divergence step runs Langevin chains
BATCH = 512
BLOCK = 50  # steps between two looks at the clock and the modes
MODES_DATA = "8gaussians"
NLL_KIND = {"flow": "exact", "diffusion": "PF-ODE", "vae": "IWAE bound"}


@dataclass(frozen=True)
class FamilyBudget:
    steps: int = 4000  # the most steps of a run
    cpu_seconds: float | None = None  # the most training CPU seconds of a run (None: steps alone)
    seeds: tuple[int, ...] = (0,)
    data: tuple[str, ...] = tuple(name for name, spec in DATASETS.items() if spec.kind == "dataset-2d")
    models: tuple[str, ...] = MODELS_COMPARED
    mode_every: int = 100  # steps between looks at the modes (diffusion on MODES_DATA)
    workers: int = 2


# 45 s: about NSF's 4,000 steps at batch 512 on a 2-core VM (3,050-4,050 on 2026-12-04); no step cap in effect
FULL = FamilyBudget(steps=1_000_000, cpu_seconds=45.0)
QUICK = FamilyBudget(steps=1_000_000, cpu_seconds=10.0, data=("8gaussians", "checkerboard"))


def train_family(model: str, data_name: str, seed: int, steps: int, cpu_seconds: float | None,
                 mode_every: int) -> dict:
    """One run of at most `steps` steps and `cpu_seconds` of training CPU time (BLOCK steps at a time), its CPU
    seconds of training, and `measure`'s metrics; for a diffusion model on MODES_DATA also the training seconds
    until its samples covered every mode."""
    setup = Setup(data=data_name, model=model, train=TrainConfig(steps=steps, batch_size=BATCH, seed=seed))
    data = load_dataset(data_name, seed)
    run = Training(lambda: setup.build_model(data), data, setup.train, device="cpu")
    watch = model in DIFFUSION and data_name == MODES_DATA
    train_s, all_modes_s, status = 0.0, None, "done"
    while run.step < steps and (cpu_seconds is None or train_s < cpu_seconds):
        start = time.process_time()
        ok = run.train(min(BLOCK, steps - run.step))
        train_s += time.process_time() - start
        if not ok:
            status = "diverged"
            break
        if watch and all_modes_s is None and run.step % mode_every == 0 and covers_every_mode(run.model, data):
            all_modes_s = train_s
    metrics = measure(run.model, data) if status == "done" else {}
    family = MODELS[model].family
    return {"kind": "family", "model": model, "family": family, "data": data_name, "seed": seed,
            "steps": run.step, "train_s": train_s, "status": status, "all_modes_s": all_modes_s,
            "nll": metrics.get("test_nll"), "nll_kind": NLL_KIND.get(family), "entropy": data.entropy,
            "swd": metrics.get("swd"), "modes": metrics.get("modes"), "total": metrics.get("total"),
            "high_quality": metrics.get("high_quality")}


def covers_every_mode(model, data: Dataset) -> bool:
    with torch.no_grad(), model.drawing_from(torch.Generator(model.device).manual_seed(0)):
        x = model.sample(N_EVAL).cpu().double().numpy()
    return bool(mode_coverage(x, data.mixture)[0].all())


def data_floor(data_name: str, seed: int) -> dict:
    """The "data" row: N_EVAL training points against the held-out set, the SWD a perfect model gets."""
    data = load_dataset(data_name, seed)
    x = data.train[np.random.default_rng(seed).choice(len(data.train), N_EVAL, replace=False)].astype(np.float64)
    return {"kind": "family", "model": "data", "family": "data", "data": data_name, "seed": seed, "steps": 0,
            "train_s": 0.0, "status": "done", "all_modes_s": None, "nll": data.entropy, "nll_kind": "entropy",
            "entropy": data.entropy, "swd": sliced_wasserstein(data.test.astype(np.float64), x), "modes": None,
            "total": None, "high_quality": None}


def run_family_benchmarks(budget: FamilyBudget = FULL, log: Callable[[str], None] = print) -> list[dict]:
    """Every model x dataset x seed of `budget`, `budget.workers` runs at a time, then the data floor."""
    jobs = [(model, data_name, seed, max(1, round(budget.steps * STEP_SHARE.get(model, 1.0))), budget.cpu_seconds,
             budget.mode_every)
            for data_name in budget.data for model in budget.models if model in MODELS for seed in budget.seeds]
    records = report.run_jobs(train_family, jobs, budget.workers, partial(_log, log))
    return records + [data_floor(d, s) for d in budget.data for s in budget.seeds]


def _log(log: Callable[[str], None], r: dict) -> None:
    nll = "–" if r["nll"] is None else f"{r['nll']:.3f}"
    log(f"families bench: {r['model']} {r['data']} seed {r['seed']}: {r['steps']} steps in {r['train_s']:.1f} "
        f"CPU s, NLL {nll}, SWD {r['swd'] if r['swd'] is None else round(r['swd'], 4)}, {r['status']}")


# -- the report -------------------------------------------------------------------------------
def summary(records: list[dict]) -> list[dict]:
    """Per (data, model), in the budget's order: means over seeds (None where a seed has no value)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["data"], r["model"]), []).append(r)
    return [{"data": data, "model": model, "nll_kind": rs[0]["nll_kind"], "entropy": rs[0]["entropy"],
             "seeds": len(rs), "diverged": sum(r["status"] != "done" for r in rs),
             **{key: _mean(r[key] for r in rs) for key in ("steps", "train_s", "nll", "swd", "modes", "high_quality",
                                                            "all_modes_s")},
             "total": rs[0]["total"]}
            for (data, model), rs in groups.items()]


def _mean(values) -> float | None:
    values = list(values)
    return None if not values or any(v is None for v in values) else statistics.mean(values)


def best_swd_of_flows(rows: list[dict]) -> dict[str, float]:
    """Per dataset, the lowest mean SWD of the flows."""
    best: dict[str, float] = {}
    for s in rows:
        if s["swd"] is not None and MODELS.get(s["model"]) and MODELS[s["model"]].family == "flow":
            best[s["data"]] = min(best.get(s["data"], float("inf")), s["swd"])
    return best


def markdown_section(records: list[dict], budget: FamilyBudget) -> list[str]:
    rows, best = summary(records), best_swd_of_flows(summary(records))
    header = ["data", "model", "seeds", "steps", "train CPU s", "test NLL", "NLL kind", "gap to H", "SWD",
              "SWD / best flow", "modes", "% hq", "CPU s to all modes", "diverged"]
    lines = [[s["data"], s["model"], str(s["seeds"]), _fmt(s["steps"], 0), _fmt(s["train_s"], 1), _fmt(s["nll"], 3),
              s["nll_kind"] or "–", _gap(s), _fmt(s["swd"], 4),
              _fmt(s["swd"] / best[s["data"]] if s["swd"] is not None and s["data"] in best else None, 2),
              "–" if s["modes"] is None else f"{s['modes']:.1f}/{s['total']}",
              _fmt(None if s["high_quality"] is None else 100 * s["high_quality"], 1), _fmt(s["all_modes_s"], 1),
              str(s["diverged"])] for s in rows]
    return [
        f"## Every family on the same data (batch {BATCH}, 1 CPU thread, mean over seeds)",
        "",
        f"`genmodels/bench/families.py`: each model at its defaults, {_budget_text(budget)}, then scored on the "
        "held-out set. "
        "NLL kinds: exact (change of variables), PF-ODE (probability-flow ODE, exact 2x2 divergence, RK4), "
        "IWAE bound (an upper bound); the GAN and the EBM have none. Gap to H = NLL - the data's entropy. "
        f"SWD: sliced Wasserstein distance of {N_EVAL:,} samples to the held-out set; the data row is {N_EVAL:,} "
        "training points (the floor a perfect model reaches; over other subsamples and projections it "
        "varies by about a third, e.g. 0.05-0.11 on checkerboard, so SWDs closer than that are a tie). "
        "SWD / best flow < 1: better than every flow. "
        f"CPU s to all modes: diffusion models on {MODES_DATA}, training time until the samples first covered "
        f"all 8 modes (looked at every {budget.mode_every} steps).",
        "",
        *table(header, lines),
    ]


def _budget_text(budget: FamilyBudget) -> str:
    if budget.cpu_seconds is not None:
        return f"{budget.cpu_seconds:g} CPU seconds of training each"
    return f"{budget.steps:,} steps (" + ", ".join(f"{m} {share:g}x" for m, share in STEP_SHARE.items()) + ")"


def _gap(s: dict) -> str:
    if s["nll"] is None or s["entropy"] is None or s["model"] == "data":
        return "–"
    return f"{s['nll'] - s['entropy']:.3f}"


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def write_section(path, lines: list[str]) -> None:
    report.write_section(path, lines, "## Every family on the same data")
