"""Typed, validated configs: frozen dataclasses whose field metadata gives the allowed range.

Field metadata keys: "min", "max" (numbers), "choices" (strings), "help", "log" (a
log-scale slider in the UI), "check" (a callable that raises UserError on a bad value,
e.g. a free-text energy expression). `build_config` turns user strings (CLI flags, URL
query values, widgets) into a config, with a UserError that names the bad field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .training.stopping import conditions


@dataclass(frozen=True)
class TrainConfig:
    steps: int = field(default=2000, metadata={"min": 1, "max": 1_000_000, "help": "training rounds"})
    batch_size: int = field(default=256, metadata={"min": 1, "max": 8192, "help": "samples per step"})
    lr: float = field(default=1e-3, metadata={"min": 1e-6, "max": 1.0, "log": True, "help": "learning rate"})
    lr_schedule: str = field(default="constant", metadata={
        "choices": ("constant", "cosine"), "help": "cosine: the learning rate decays to 0 at the last step"})
    seed: int = field(default=0, metadata={"min": 0, "max": 2**31 - 1, "help": "seed of data and weights"})
    patience: int = field(default=0, metadata={
        "min": 0, "max": 1_000_000, "help": "stop when the loss has not improved for this many steps (0: never)"})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the training step: 1.3-1.9x the steps/s after a first compile of seconds to a "
                "minute (then cached on disk); off, the first step comes at once"})
    stop_when: str = field(default="", metadata={
        "help": "stop at a target, e.g. 'loss < 1.3' (a logged curve, < or >, a number); empty: never"})

    def __post_init__(self):
        conditions(self.stop_when, self.patience)  # a bad target is a UserError here, not mid-run


def field_type(f: dataclasses.Field) -> type:
    """The Python type of a field, resolving string annotations of `from __future__ import annotations`."""
    t = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool, "str": str}[f.type]
    return t


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """One value for field f, converted from a string or number and checked against its metadata."""
    t, meta = field_type(f), f.metadata
    try:
        v = _convert(t, value)
    except (TypeError, ValueError, OverflowError, KeyError):
        raise UserError(f"{f.name} must be {t.__name__}, got {shown(value)}") from None
    if t is float and not math.isfinite(v):
        raise UserError(f"{f.name} must be a finite number, got {shown(value)}")
    if "min" in meta and v < meta["min"] or "max" in meta and v > meta["max"]:
        raise UserError(f"{f.name} = {v} is outside the allowed range [{meta.get('min')}, {meta.get('max')}]")
    if "choices" in meta and v not in meta["choices"]:
        raise UserError(f"{f.name} must be one of {', '.join(map(str, meta['choices']))}, got {shown(v)}")
    if "check" in meta:
        meta["check"](v)
    return v


def shown(value: Any, width: int = 40) -> str:
    """repr(value), cut to about `width` characters: a message quotes a 5,000-digit value by its start."""
    text = repr(value)
    return text if len(text) <= width else f"{text[:width]}... ({len(text):,} characters)"


BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _convert(t: type, value: Any) -> Any:
    if t is bool and not isinstance(value, bool):
        return BOOL_WORDS[str(value).lower()]
    if t is int:
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    return t(value)


def build_config(cls: type, values: dict[str, Any] | None = None):
    """cls(**values) with each value coerced and range-checked; unknown keys are an error."""
    values = values or {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise UserError(f"unknown setting {shown(sorted(unknown)[0])}; {cls.__name__} has {', '.join(fields)}")
    return cls(**{k: coerce(fields[k], v) for k, v in values.items()})


def to_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def changed(config) -> dict[str, Any]:
    """The fields that differ from the defaults (short share URLs)."""
    default = type(config)()
    return {k: v for k, v in to_dict(config).items() if getattr(default, k) != v}
