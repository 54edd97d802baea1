"""Save and load runs as safetensors: the weights plus the setup as JSON metadata. Never pickle."""

from __future__ import annotations

import json

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import UserError
from .setup import Setup


def save(path: str, model, setup: Setup, step: int) -> None:
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    meta = {"genmodels": "1", "setup": json.dumps(setup.to_query()), "step": str(step)}
    save_file(state, path, metadata=meta)


def load(path: str):
    """(model, setup, step) from a file written by `save`; any other file is a UserError."""
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors checkpoint: {e}") from None
    if meta.get("genmodels") != "1" or "setup" not in meta:
        raise UserError(f"{path} is a safetensors file but not a genmodels checkpoint (no setup metadata)")
    try:
        setup = Setup.from_query(json.loads(meta["setup"]))
    except json.JSONDecodeError:
        raise UserError(f"{path} has corrupt setup metadata") from None
    model = setup.build_model(setup.load_data())
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{path} does not match its model {setup.model}: {str(e).splitlines()[0]}") from None
    return model, setup, int(meta.get("step", 0))
