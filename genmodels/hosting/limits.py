"""Caps for a shared (hosted) instance, read from GENMODELS_* environment variables.

Per session (checked before a run is built, so a rejected setup leaves the current run alone):
    GENMODELS_MAX_STEPS      training rounds of one run
    GENMODELS_MAX_PARAMS     parameters of one model, counted on torch's meta device (no memory used)
    GENMODELS_MAX_ROWS       rows of a user's CSV
    GENMODELS_IDLE_TIMEOUT   seconds without a page refresh before a training run is paused
    GENMODELS_DROP_TIMEOUT   seconds without a page refresh before a run is closed and its memory freed
    GENMODELS_REFRESH        seconds between refreshes of the live panel while a run trains
Deployment-wide (`pool.py`, `host.py`):
    GENMODELS_HOSTS          worker processes that train (default: one per CPU core); with GENMODELS_RAY_ADDRESS
                             set, the hosts are Ray actors instead, one per CPU (or GPU) of the cluster
    GENMODELS_MAX_TRAINERS   runs training at once in each host; the others wait in its queue (default 1)
    GENMODELS_TIME_SLICE     seconds a run keeps its slot while others wait (then it queues again)
    GENMODELS_CHUNK_SECONDS  seconds of training between two snapshots (how often a page sees news; what a
                             run records does not depend on it)
    GENMODELS_THREADS        torch threads for training (process-wide)
    GENMODELS_LIVE_SHARE     of a run's training time at most this share goes to computing and drawing its live
                             pictures (default 0.03: an open page costs its run under 3% of its steps; raise it
                             for livelier pictures of slow-to-draw models, at that cost)

An unset or empty variable takes the caller's default; "none" removes a cap.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn.modules.module import register_module_parameter_registration_hook

from ..data import USER_POINTS
from ..data.csvfile import MAX_ROWS
from ..errors import UserError

if TYPE_CHECKING:
    from ..data import Dataset
    from ..setup import Setup

PREFIX = "GENMODELS_"


def seconds(default: float | None) -> dataclasses.Field:
    """A field counted in seconds (its error message says so)."""
    return dataclasses.field(default=default, metadata={"unit": " of seconds"})


@dataclass(frozen=True)
class Limits:
    """Defaults are the library's (the CLI's): no caps beyond the configs' own ranges."""

    max_steps: int | None = None
    max_params: int | None = None
    max_rows: int = MAX_ROWS
    idle_timeout: float | None = seconds(None)
    drop_timeout: float | None = seconds(None)
    refresh: float = seconds(0.25)
    hosts: int = os.cpu_count() or 1
    max_trainers: int = 1
    time_slice: float | None = seconds(2.0)
    chunk_seconds: float = seconds(0.1)
    threads: int = 1
    live_share: float = 0.03

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **defaults) -> Limits:
        """Limits from GENMODELS_<FIELD> variables; `defaults` replace the class defaults."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            name, raw = PREFIX + f.name.upper(), environ.get(PREFIX + f.name.upper(), "").strip()
            unit = f.metadata.get("unit", "")
            values[f.name] = parse_value(name, raw, f.type, unit) if raw else defaults.get(f.name, f.default)
        return cls(**values)

    def check(self, setup: Setup, data: Dataset) -> None:
        """Reject a setup over the caps with a UserError that says what to lower."""
        steps = setup.train.steps
        if self.max_steps is not None and steps > self.max_steps:
            raise UserError(f"steps = {steps:,} is over this server's cap of {self.max_steps:,}; lower steps")
        rows = len(data.train) + len(data.test)
        if setup.data == USER_POINTS and rows > self.max_rows:
            raise UserError(f"your data has {rows:,} rows; this server allows at most {self.max_rows:,}")
        if self.max_params is not None:
            n = count_parameters(lambda: setup.build_model(data))
            if n > self.max_params:
                raise UserError(
                    f"{setup.model} with these settings has {n:,} parameters; this server allows at most "
                    f"{self.max_params:,}. Lower the width (hidden), depth or number of layers."
                )


def parse_value(name: str, raw: str, annotation: str, unit: str = "") -> int | float | None:
    """One environment value: a positive number (int fields also take 1e6, 20_000) or "none"; `unit` for its
    error message (" of seconds")."""
    if raw.lower() == "none" and "None" in annotation:
        return None
    as_int = annotation.startswith("int")
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf") or (as_int and not value.is_integer()):
        kind = "a positive whole number" if as_int else f"a positive number{unit}"
        none = ' or "none"' if "None" in annotation else ""
        raise UserError(f"environment variable {name} must be {kind}{none}, got {raw!r}")
    return int(value) if as_int else value


def count_parameters(build: Callable[[], torch.nn.Module]) -> int:
    """Parameters of `build()`'s model, built on the meta device so no weights are allocated.

    Every parameter registered while this thread builds counts, so a model whose
    constructor cannot finish on the meta device (it reads tensor values, e.g. to draw its
    first samples) is counted all the same, and is never built for real to be counted.
    """
    registered: dict[int, int] = {}
    thread = threading.get_ident()

    def count(module: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
        if param is not None and threading.get_ident() == thread:
            registered[id(param)] = param.numel()

    hook = register_module_parameter_registration_hook(count)
    try:
        with torch.device("meta"):
            return sum(p.numel() for p in build().parameters())
    except (NotImplementedError, RuntimeError):
        return sum(registered.values())
    finally:
        hook.remove()
