"""Save and load runs as safetensors: the weights, the loss history (tensors named 'history/...') and the
setup as JSON metadata. Never pickle."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from . import bounded_json
from .config import shown
from .errors import UserError
from .hosting.limits import Limits, count_parameters
from .models import MODELS
from .setup import Setup
from .training.history import History

HISTORY = "history/"  # the loss history's tensors; a state_dict's keys are dotted names, never this


def save(path: str, state: dict, setup: Setup, step: int, history: History | None = None) -> None:
    """Write weights (`model.state_dict()` or `Trainer.weights()`) with the setup and the loss history;
    an unwritable path is a UserError."""
    check_writable(path)
    try:
        Path(path).write_bytes(to_bytes(state, setup, step, history))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def check_writable(path: str) -> None:
    """A UserError unless a file can be written at `path` (before a run whose result it will hold starts)."""
    target = Path(path)
    if target.is_dir():
        raise UserError(f"--out {path} is a folder; give a file name such as {target / 'run.safetensors'}")
    folder = target.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or target.exists() and not os.access(target, os.W_OK):
        raise UserError(f"cannot write {path}: permission denied")


def load(path: str, limits: Limits | None = None):
    """(model, setup, step, history) from a file written by `save`; any other file is a UserError.

    The setup in the file is checked against `limits`, and its model's parameters are counted
    on the meta device against the weights the file holds, before the model is built: a
    tampered file cannot make the server allocate a model larger than itself or the caps.
    """
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors checkpoint: {e}") from None
    if meta.get("genmodels") != "1" or "setup" not in meta:
        raise UserError(f"{path} is a safetensors file but not a genmodels checkpoint (no setup metadata)")
    setup, step = _setup_and_step(path, meta)
    setup = as_saved(setup, state)
    history = _history(path, {k[len(HISTORY):]: state.pop(k) for k in list(state) if k.startswith(HISTORY)}, step)
    bad = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise UserError(f"{path} has non-finite weights (NaN or inf) in {bad[0]}")
    data = setup.load_data()
    (limits or Limits()).check(setup, data)
    needed, stored = count_parameters(lambda: setup.build_model(data)), sum(v.numel() for v in state.values())
    if needed > stored:
        raise UserError(f"{path} does not match its model {setup.model}: the setup needs {needed:,} parameters, "
                        f"the file holds {stored:,} number{'s' * (stored != 1)}")
    model = setup.build_model(data)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).splitlines()[1:])  # the lines after "Error(s) in..."
        raise UserError(f"{path} does not match its model {setup.model}: {detail[:300]}") from None
    return model, setup, step, history


def as_saved(setup: Setup, state: dict) -> Setup:
    """The setup a file was trained with: one that holds no moving average of the weights was saved with
    `ema` 0 (before the average was its model's default), and loads as that run, showing what it showed."""
    averaged = MODELS[setup.model].averaged
    if averaged is None or setup.model_config.ema == 0 or any(k.startswith(averaged + ".") for k in state):
        return setup
    return setup.replace(model_config=dataclasses.replace(setup.model_config, ema=0.0))


def _history(path: str, tensors: dict[str, torch.Tensor], step: int) -> History:
    """The loss history stored beside the weights (empty for a file saved without one), checked."""
    try:
        return History.from_state({k: v.numpy() for k, v in tensors.items()}, step)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def _setup_and_step(path: str, meta: dict[str, str]) -> tuple[Setup, int]:
    """The setup and step stored in a checkpoint's metadata; anything malformed is a UserError."""
    try:
        query, step = bounded_json.loads(meta["setup"], "its setup"), meta.get("step", "0")
    except UserError as e:
        raise UserError(f"{path} has corrupt setup metadata: {e}") from None
    if not isinstance(query, dict) or not (step.isascii() and step.isdigit() and len(step) < 16):
        raise UserError(f"{path} has corrupt setup metadata")
    try:
        return Setup.from_query(query_strings(query)), int(step)
    except UserError as e:
        raise UserError(f"{path} has a setup this version cannot use: {e}") from None


def query_strings(raw: dict) -> dict[str, str]:
    """A JSON object's values as the strings of a share URL; only text, numbers and true/false are values."""
    bad = next((k for k, v in raw.items() if not isinstance(v, (str, int, float, bool))), None)
    if bad is not None:
        raise UserError(f"setting {shown(bad)} must be text or a number, got a {type(raw[bad]).__name__}")
    return {k: str(v) for k, v in raw.items()}


def to_bytes(state: dict, setup: Setup, step: int, history: History | None = None) -> bytes:
    """The bytes of the file `save` writes, from a copy of the weights (`Trainer.weights`): a download."""
    state = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in state.items()}  # unshared
    state.update({HISTORY + k: torch.from_numpy(v) for k, v in (history or History()).state().items()})
    meta = {"genmodels": "1", "setup": json.dumps(setup.to_query()), "step": str(step)}
    return save_bytes(state, metadata=meta)


def config_json(setup: Setup, step: int) -> str:
    """The run's setup as JSON: the share-URL settings (enough to rebuild it) and every value spelled out."""
    return json.dumps({"genmodels": 1, "setup": setup.to_query(), "step": step, "resolved": setup.to_dict()}, indent=2)


def setup_from_json(text: str | bytes, name: str = "config") -> Setup:
    """The setup of a `config_json` file; anything else is a UserError."""
    raw = bounded_json.loads(text, name)
    if not isinstance(raw, dict) or raw.get("genmodels") != 1 or not isinstance(raw.get("setup"), dict):
        raise UserError(f"{name} is JSON but not a genmodels config (it needs \"genmodels\": 1 and a \"setup\")")
    return Setup.from_query(query_strings(raw["setup"]))
