"""Command line: `python -m genmodels train|bench|list ...`. Bad input exits 2 with one line, no traceback."""

from __future__ import annotations

import argparse
import json
import sys

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
    from .checkpoint import save
    from .metrics import evaluate
    from .setup import Setup
    from .train import Trainer

    query = {"model": args.model, **parse_settings(extra)}
    for key in ("steps", "batch_size", "lr", "seed"):
        if getattr(args, key) is not None:
            query[key] = str(getattr(args, key))
    setup = Setup.from_query({**query, "data": "moons"})  # validates everything but the data
    setup = setup.replace(data=args.data)
    data = setup.load_data()
    trainer = Trainer(lambda: setup.build_model(data), data, setup.train, device=args.device, visual_interval=None)
    snap = run_with_progress(trainer, setup.train.steps)
    if snap.status == "diverged":
        raise UserError(snap.message)
    if args.out:
        save(args.out, trainer.model, setup, snap.step)
    return {"model": setup.model, "data": setup.data, "steps": snap.step, **evaluate(trainer.model, data)}


def run_with_progress(trainer, steps: int):
    from tqdm import tqdm

    with tqdm(total=steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        def update(snap):
            bar.update(snap.step - bar.n)
            loss = snap.history.get("loss")
            if loss is not None and len(loss):
                bar.set_postfix(loss=f"{loss[-1, 1]:.3f}")

        return trainer.run(steps, on_chunk=update)


def cmd_bench(args: argparse.Namespace, extra: list[str]) -> None:
    from .bench import FULL, QUICK, machine, markdown, peer_ratios, run_benchmarks

    budget = QUICK if args.quick else FULL
    records = run_benchmarks(budget, log=lambda line: print(line, file=sys.stderr))
    with open(args.markdown, "w") as f:
        f.write(markdown(records, budget, machine()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    for line in peer_ratios(records):
        print(line)
    print(f"wrote {args.markdown}" + (f" and {args.json}" if args.json else ""))


def cmd_list(args: argparse.Namespace, extra: list[str]) -> None:
    from .data import DATASETS
    from .models import MODELS

    for name, spec in DATASETS.items():
        print(name, spec.kind)
    for name, cls in MODELS.items():
        print(name, cls.family)


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
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    train.add_argument("--out", help="save weights and setup to this .safetensors file")
    train.add_argument("--json", action="store_true", help="print the final metrics as one JSON line")
    train.set_defaults(run=cmd_train)
    bench = sub.add_parser("bench", help="measure training speed, UI overhead, time to a target NLL and memory")
    bench.add_argument("--quick", action="store_true", help="one model per family, short runs (under 3 minutes)")
    bench.add_argument("--json", help="also write the records as a JSON list to this file")
    bench.add_argument("--markdown", default="BENCHMARKS.md", help="the markdown report (default BENCHMARKS.md)")
    bench.set_defaults(run=cmd_bench)
    sub.add_parser("list", help="list datasets and models as NAME KIND").set_defaults(run=cmd_list)
    return parser


def print_metrics(metrics: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
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
    if isinstance(result, dict):
        print_metrics(result, getattr(args, "json", False))
    return 0
