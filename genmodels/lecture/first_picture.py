"""`python -m genmodels.lecture.first_picture [NAME ...]`: how long a preset takes to show its point.

A lecturer opens a preset and presses Train; the hall should see what the preset is about
within about ten seconds on a 2-core laptop. This trains every run of each preset as the
app does (a `RunHandle` each on the shared pool of host processes, started together, new
visuals at most every REFRESH seconds) and reports the wall-clock
seconds from pressing Train until each run's latest visuals first pass its preset's check
(`MEANINGFUL`), and the step they were of. A preset without a check of its own is timed to
its first visuals after step 0 (the first picture of a trained model), which is marked.

Wall-clock times depend on the machine and on what else runs: state the load (`uptime`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..data import Dataset, dataset_spec, load_dataset
from ..evaluation.theory import sample_quality
from ..hosting.handle import RunHandle
from ..hosting.pool import shared_pool, spec_for
from ..training.snapshot import Snapshot
from .presets import Preset, load_presets

REFRESH = 0.25  # seconds between new visuals at most, as the app's default refresh
TIMEOUT = 60.0

Check = Callable[[Snapshot, Dataset], bool]


def trained(snap: Snapshot, data: Dataset) -> bool:
    """The default: visuals of a step after the first."""
    return snap.visuals_step > 0


def modes_at_least(n: int, quality: float = 0.0) -> Check:
    """The fixed-z samples cover at least n modes (≥1 sample within 3σ) with at least `quality` of them
    within 3σ of some mode: on the ring, mode coverage is what the collapse preset is about."""
    def check(snap: Snapshot, data: Dataset) -> bool:
        if "samples" not in snap.visuals:
            return False
        q = sample_quality(snap.visuals["samples"], data)
        return q["modes"] >= n and q["high_quality"] >= quality
    return check


def loss_below(value: float) -> Check:
    """The last logged loss (the negative ELBO for a VAE, nats per image) is below `value`."""
    def check(snap: Snapshot, data: Dataset) -> bool:
        loss = snap.history.get("loss")
        return loss is not None and len(loss) > 0 and snap.visuals_step > 0 and float(loss[-1, 1]) < value
    return check


# Per preset: run label -> what its picture must show. The numbers are where the point is plain to see.
MEANINGFUL: dict[str, dict[str, Check]] = {
    "gan-ring-collapse": {"vanilla GAN, small generator": modes_at_least(1, 0.5),
                          "NSGAN, packs of 2, averaged G": modes_at_least(6, 0.5)},
    "vae-interpolation": {"VAE, 8-dimensional latent": loss_below(165.0)},  # blurred but legible digits
}


@dataclass
class Timing:
    preset: str
    run: str
    seconds: float | None  # None: not within the timeout
    step: int
    check: str  # "own" (MEANINGFUL) or "first trained picture"


def time_preset(preset: Preset, timeout: float = TIMEOUT) -> list[Timing]:
    """Start every run of `preset` together and time each to its check; the runs are closed afterwards."""
    checks = MEANINGFUL.get(preset.name, {})
    trainers = []
    try:
        for run in preset.runs:
            data = load_dataset(run.setup.data, dataset_spec(run.setup.data).data_seed(run.setup.train.seed))
            trainers.append((run, data, RunHandle(shared_pool(), spec_for(run.setup, data, visual_interval=REFRESH))))
        start = time.perf_counter()
        for _, _, trainer in trainers:
            trainer.start()
        done: dict[str, Timing] = {}
        while len(done) < len(trainers) and time.perf_counter() - start < timeout:
            time.sleep(REFRESH / 2)
            for run, data, trainer in trainers:
                trainer.heartbeat()
                snap = trainer.snapshot()
                if run.label not in done and checks.get(run.label, trained)(snap, data):
                    done[run.label] = Timing(preset.name, run.label, time.perf_counter() - start, snap.visuals_step,
                                             "own" if run.label in checks else "first trained picture")
        return [done.get(run.label) or Timing(preset.name, run.label, None, trainer.snapshot().visuals_step,
                                              "own" if run.label in checks else "first trained picture")
                for run, _, trainer in trainers]
    finally:
        for _, _, trainer in trainers:
            trainer.close()


def main(argv: list[str] | None = None) -> None:
    presets = load_presets()[0]
    parser = argparse.ArgumentParser(prog="python -m genmodels.lecture.first_picture",
                                     description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("names", nargs="*", help=f"presets (default: all of {', '.join(presets)})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per preset before giving up")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    args = parser.parse_args(argv)
    for name in args.names or list(presets):
        for t in time_preset(presets[name], args.timeout):
            if args.json:
                print(json.dumps(t.__dict__))
            else:
                took = f"{t.seconds:5.1f} s" if t.seconds is not None else f"> {args.timeout:g} s"
                print(f"{t.preset:22} {t.run:28} {took} at step {t.step:5}  ({t.check})", flush=True)


if __name__ == "__main__":
    main()
