"""Lecture presets: named setups that reproduce a figure or a claim of the course notes.

A preset is a small TOML file in `assets/presets/`: a title, a one-paragraph
explanation, the equation it illustrates (LaTeX), the dataset, and one to three
runs. Several runs make a comparison on the same data (e.g. vanilla GAN vs
WGAN-GP on the ring). A run's settings are the flat `name = value` pairs of the
share URL and the CLI flags, validated the same way (`Setup.from_query`).

    title = "RealNVP: affine coupling layers"
    explanation = "..."
    equation = 'g_\\theta(x) = (x_0, e^{s_\\theta(x_0)} \\odot x_1 + t_\\theta(x_0))'
    data = "moons"
    [[runs]]
    label = "RealNVP, 8 layers"
    model = "realnvp"
    settings = { layers = 8, steps = 1500, seed = 0 }

A preset whose model is not registered in this version is skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..models import MODELS
from ..setup import Setup

PRESET_DIR = Path(__file__).resolve().parents[2] / "assets" / "presets"  # genmodels/lecture/ -> the repository root
MAX_RUNS = 3
KEYS = {"title", "explanation", "equation", "data", "runs"}
RUN_KEYS = {"label", "model", "settings"}


@dataclass(frozen=True)
class PresetRun:
    label: str
    setup: Setup


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    explanation: str
    equation: str
    runs: tuple[PresetRun, ...]

    @property
    def setups(self) -> list[Setup]:
        return [r.setup for r in self.runs]

    def with_steps(self, steps: int) -> Preset:
        """The same preset with every run's step budget set to `steps` (a quick CLI check)."""
        runs = tuple(dataclasses.replace(r, setup=with_steps(r.setup, steps)) for r in self.runs)
        return dataclasses.replace(self, runs=runs)


def with_steps(setup: Setup, steps: int) -> Setup:
    return Setup.from_query({**setup.to_query(), "steps": str(steps)})


def parse_preset(name: str, text: str) -> Preset:
    """A Preset from TOML text; any mistake is a UserError naming the preset and the field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"preset {name}: not valid TOML ({e})") from None
    unknown = set(raw) - KEYS
    if unknown:
        raise UserError(f"preset {name}: unknown key {sorted(unknown)[0]!r}; a preset has {', '.join(sorted(KEYS))}")
    for key in ("title", "explanation", "equation", "data"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise UserError(f"preset {name}: {key!r} must be a non-empty string")
    runs = raw.get("runs")
    if not isinstance(runs, list) or not 1 <= len(runs) <= MAX_RUNS:
        raise UserError(f"preset {name}: needs 1 to {MAX_RUNS} [[runs]] tables")
    return Preset(name, raw["title"].strip(), " ".join(raw["explanation"].split()), raw["equation"].strip(),
                  tuple(_run(name, raw["data"], run) for run in runs))


def _run(name: str, data: str, run: dict) -> PresetRun:
    unknown = set(run) - RUN_KEYS
    if unknown:
        raise UserError(f"preset {name}: unknown run key {sorted(unknown)[0]!r}; a run has label, model, settings")
    model, settings = run.get("model"), run.get("settings", {})
    if model not in MODELS:
        raise UserError(f"preset {name}: model {model!r} is not in this version (models: {', '.join(MODELS)})")
    if not isinstance(settings, dict):
        raise UserError(f"preset {name}: settings must be a table of name = value")
    try:
        setup = Setup.from_query({"data": data, "model": model, **{k: str(v) for k, v in settings.items()}})
    except UserError as e:
        raise UserError(f"preset {name}, run {run.get('label', model)!r}: {e}") from None
    return PresetRun(str(run.get("label", model)), setup)


@functools.cache
def load_presets(directory: Path = PRESET_DIR) -> tuple[dict[str, Preset], dict[str, str]]:
    """(presets by name, {name: why it was skipped}) for every *.toml in `directory`, sorted by name."""
    presets, skipped = {}, {}
    for path in sorted(directory.glob("*.toml")):
        try:
            presets[path.stem] = parse_preset(path.stem, path.read_text(encoding="utf-8"))
        except UserError as e:
            skipped[path.stem] = str(e)
    return presets, skipped


def get_preset(name: str) -> Preset:
    presets, skipped = load_presets()
    if name in skipped:
        raise UserError(skipped[name])
    if name not in presets:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return presets[name]
