"""Sidebar widgets built from config dataclasses: one widget per field, keyed by its name."""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

from genmodels.config import TrainConfig, build_config, field_type
from genmodels.errors import UserError


def config_widgets(cls: type, current, prefix: str, hidden: tuple[str, ...] = ()):
    """Widgets for every field of `cls` that does something here, starting from `current`; returns the new
    config. A field the mode ignores (`shown_when`) keeps its current value; a `hidden` one (the model never
    reads it) keeps its default."""
    values = {f.name: f.default if f.name in hidden else
              field_widget(f, getattr(current, f.name), f"{prefix}{f.name}") if shown(f, current, prefix)
              else getattr(current, f.name) for f in dataclasses.fields(cls)}
    try:
        return build_config(cls, values)
    except UserError as e:  # a typed value the config refuses, e.g. an energy expression
        st.error(str(e))
        return current


def train_widgets(model: type, current: TrainConfig, prefix: str) -> TrainConfig:
    """The training settings for `model`: without lr where the model has its own (a GAN's lr_g, lr_d)."""
    return config_widgets(TrainConfig, current, prefix, () if model.uses_lr else ("lr",))


def shown(f: dataclasses.Field, current, prefix: str) -> bool:
    """False when the field's `shown_when` metadata ({other field: values}) does not hold for the values
    the other fields' widgets hold now (e.g. a flow's reverse-KL target while it fits data)."""
    return all(st.session_state.get(f"{prefix}{name}", getattr(current, name)) in allowed
               for name, allowed in f.metadata.get("shown_when", {}).items())


def field_widget(f: dataclasses.Field, value, key: str):
    t, meta = field_type(f), f.metadata
    label, help_ = f.name.replace("_", " "), meta.get("help")
    if key not in st.session_state:
        st.session_state[key] = value
    if "choices" in meta:
        return st.selectbox(label, list(meta["choices"]), key=key, help=help_)
    if t is bool:
        return st.checkbox(label, key=key, help=help_)
    if t is int:
        return st.number_input(label, min_value=meta.get("min"), max_value=meta.get("max"), step=1, key=key, help=help_)
    if t is float and meta.get("log"):
        return log_slider(label, meta["min"], meta["max"], key, help_)
    if t is float:
        return st.number_input(label, min_value=meta.get("min"), max_value=meta.get("max"), key=key, help=help_,
                               format="%.4g")
    return st.text_input(label, key=key, help=help_)


def log_slider(label: str, lo: float, hi: float, key: str, help_: str | None) -> float:
    """A select slider over 1-2-5 steps between lo and hi, keeping the current value selectable."""
    options = sorted({m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                      for m in (1, 2, 5) if lo <= m * 10.0**e <= hi} | {st.session_state[key]})
    return st.select_slider(label, options=options, key=key, help=help_, format_func=lambda v: f"{v:g}")


def config_state(config, prefix: str) -> dict:
    """The widget values that show `config` (keys as `config_widgets` names them): to set a preset's settings."""
    return {f"{prefix}{f.name}": getattr(config, f.name) for f in dataclasses.fields(config)}


def setup_state(setup, prefix: str = "") -> dict:
    """Widget values showing a Setup's model and settings; prefix "" for the sidebar's run, "B." for run B."""
    return {f"{prefix}model": setup.model, **config_state(setup.model_config, f"{prefix}{setup.model}."),
            **config_state(setup.train, f"{prefix}train.")}
