"""Command line: `python -m genmodels train|bench|list ...`. Bad input exits 2 with one line, no traceback."""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections.abc import Callable
from types import ModuleType

from .errors import UserError


def parse_settings(extra: list[str]) -> dict[str, str]:
    """Leftover `--name value` / `--name=value` flags become model or training settings."""
    settings, i = {}, 0
    while i < len(extra):
        flag = extra[i]
        if not flag.startswith("--"):
            raise UserError(f"unexpected argument {flag!r}")
        name, eq, value = flag[2:].partition("=")
        if not eq:
            if i + 1 >= len(extra):
                raise UserError(f"{flag} needs a value")
            value, i = extra[i + 1], i + 1
        settings[name.replace("-", "_")] = value
        i += 1
    return settings


def cmd_train(args: argparse.Namespace, extra: list[str]) -> dict:
    from .setup import Setup

    query = {"model": args.model, **parse_settings(extra)}
    for key in ("steps", "batch_size", "lr", "seed"):
        if getattr(args, key) is not None:
            query[key] = str(getattr(args, key))
    setup = Setup.from_query({**query, "data": "moons"})  # validates everything but the data
    return train_setup(setup.replace(data=args.data), args.device, args.out)


def train_setup(setup, device: str, out: str | None = None) -> dict:
    """Train one setup to its step budget (or a stop condition); its final metrics.

    `out` is checked before training; a diverged run saves its last finite weights there
    (and says so) before it is reported as an error.
    """
    from .checkpoint import check_writable, save
    from .device import use_training_threads
    from .evaluation.metrics import evaluate
    from .hosting.limits import Limits
    from .training.loop import Training

    if out:
        check_writable(out)
    limits = Limits.from_env()
    use_training_threads(limits.threads)
    data = setup.load_data()
    limits.check(setup, data)  # GENMODELS_MAX_* caps, if set, as in the app
    trainer = Training(lambda: setup.build_model(data), data, setup.train, device=device)
    start = time.perf_counter()
    snap = run_with_progress(trainer, setup.train.steps)
    steps_per_s = snap.step / (time.perf_counter() - start)
    if trainer.compile_error:
        print(f"note: {trainer.compile_error}", file=sys.stderr)
    saved = ""
    if out:
        state, step = trainer.weights(), trainer.step
        save(out, state, setup, step, trainer.history)
        saved = f" The weights of step {step} were saved to {out}."
    if snap.status == "diverged":
        raise UserError(snap.message + saved)
    return {"model": setup.model, "data": setup.data, "steps": snap.step, "steps_per_s": round(steps_per_s, 1),
            **evaluate(trainer.model, data)}


def cmd_preset(args: argparse.Namespace, extra: list[str]) -> list[dict] | None:
    """Train every run of a lecture preset (one result each); without a name, list the presets."""
    from .lecture.presets import get_preset, load_presets

    if args.name is None:
        presets, skipped = load_presets()
        for name, preset in presets.items():
            print(f"{name}  {preset.title}")
        for name, why in skipped.items():
            print(f"{name}  (unavailable: {why})")
        return None
    preset = get_preset(args.name)
    if args.steps is not None:
        preset = preset.with_steps(args.steps)
    return [{"preset": preset.name, "run": run.label, **train_setup(run.setup, args.device)} for run in preset.runs]


def run_with_progress(training, steps: int):
    from tqdm import tqdm

    with tqdm(total=steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        def update(t):
            bar.update(t.step - bar.n)
            loss = t.history.curves.get("loss")
            if loss is not None and loss.means:
                bar.set_postfix(loss=f"{loss.means[-1]:.3f}")

        return training.run(steps, on_block=update)


def cmd_bench(args: argparse.Namespace, extra: list[str]) -> None:
    """The speed and fit suite, then the GAN, families and image tables; `--gans`, `--families` or `--images`:
    those tables alone, each section replaced in place."""
    from .bench import families, gans, images
    from .bench.suite import PEER_HEADER, peer_ratios

    log = functools.partial(print, file=sys.stderr)
    tables = {"gans": (gans, gans.run_gan_benchmarks), "families": (families, families.run_family_benchmarks),
              "images": (images, functools.partial(images.run_image_benchmarks, device=args.device))}
    only = [name for name in tables if getattr(args, name)]
    suite_records = [] if only else bench_suite(args, log)
    records = list(suite_records)
    for name in only or tables:
        records += bench_table(*tables[name], args, log)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    for row in peer_ratios(suite_records):
        print(", ".join(f"{name}: {value}" for name, value in zip(PEER_HEADER, row)))
    print(f"wrote {args.markdown}" + (f" and {args.json}" if args.json else ""))


def bench_suite(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """The speed and fit suite's records, on `--device` or on every device; it writes the markdown anew."""
    from .bench.suite import FULL, QUICK, machine, markdown, run_benchmarks
    from .device import pick_device

    budget = QUICK if args.quick else FULL
    devices = None if args.device is None else [pick_device(args.device)]
    records = run_benchmarks(budget, log=log, devices=devices)
    with open(args.markdown, "w") as f:
        f.write(markdown(records, budget, machine()))
    return records


def bench_table(table: ModuleType, run: Callable[..., list[dict]], args: argparse.Namespace,
                log: Callable[[str], None]) -> list[dict]:
    """`run`'s records at the QUICK or FULL budget of `table` (the gans, families or images module); its section of the
    markdown is replaced in place."""
    budget = table.QUICK if args.quick else table.FULL
    records = run(budget, log=log)
    table.write_section(args.markdown, table.markdown_section(records, budget))
    return records


def cmd_list(args: argparse.Namespace, extra: list[str]) -> None:
    from .data import DATASETS
    from .models import MODELS

    for name, spec in DATASETS.items():
        print(name, spec.kind)
    for name, cls in MODELS.items():
        print(name, cls.family)


DEVICE_HELP = "auto (the CPU for 2D points, else the best there is), cpu, cuda or mps"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genmodels",
                                     description="Train generative models from the course notes.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one model without a browser",
                           epilog="Any other --name value sets a model setting, e.g. --layers 4 --hidden 32.")
    train.add_argument("--data", default="moons", help="a registered dataset or a path to a CSV of 2D points")
    train.add_argument("--model", default="realnvp")
    train.add_argument("--steps", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", default="auto", help=DEVICE_HELP)
    train.add_argument("--out", help="save weights and setup to this .safetensors file")
    train.add_argument("--json", action="store_true", help="print the final metrics as one JSON line")
    train.set_defaults(run=cmd_train)
    bench = sub.add_parser("bench", help="measure training speed, UI overhead, time to a target NLL and memory")
    bench.add_argument("--quick", action="store_true", help="one model per family, short runs (2-3 minutes)")
    bench.add_argument("--json", help="also write the records as a JSON list to this file")
    bench.add_argument("--markdown", default="BENCHMARKS.md", help="the markdown report (default BENCHMARKS.md)")
    bench.add_argument("--device", help="measure on this device only (default: the CPU, and the GPU if there is one)")
    bench.add_argument("--gans", action="store_true",
                       help="only the GAN mode-coverage table (its section of the markdown is replaced)")
    bench.add_argument("--families", action="store_true",
                       help="only every family on the same 2D data (test NLL, SWD), its section replaced in place")
    bench.add_argument("--images", action="store_true",
                       help="only the image models' training images/s on MNIST-5k (on --device, default the best)")
    bench.set_defaults(run=cmd_bench)
    sub.add_parser("list", help="list datasets and models as NAME KIND").set_defaults(run=cmd_list)
    preset = sub.add_parser("preset", help="run a lecture preset (no name: list them)",
                            description="Train the runs of a lecture preset from assets/presets/, "
                                        "printing one result per run as `train` does.")
    preset.add_argument("name", nargs="?")
    preset.add_argument("--steps", type=int, help="shorten every run to this many steps")
    preset.add_argument("--device", default="auto", help=DEVICE_HELP)
    preset.add_argument("--json", action="store_true", help="print each run's final metrics as one JSON line")
    preset.set_defaults(run=cmd_preset)
    return parser


def print_metrics(metrics: dict, as_json: bool) -> None:
    """As `name value` lines, or one line of strict JSON (a NaN or infinite metric is null)."""
    if as_json:
        finite = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()}
        print(json.dumps(finite, allow_nan=False))
        return
    for key, value in metrics.items():
        if key not in ("model", "data"):
            print(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result = args.run(args, extra)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for metrics in [result] if isinstance(result, dict) else result or []:
        print_metrics(metrics, getattr(args, "json", False))
    return 0
