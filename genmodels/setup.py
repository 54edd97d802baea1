"""A Setup is everything that defines a run: dataset, model, model config, training config.

It round-trips through flat string dicts (URL query parameters, CLI flags), so a
share URL reproduces the exact run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .config import TrainConfig, build_config, changed, shown, to_dict
from .data import USER_POINTS, Dataset, dataset_spec, load_dataset
from .errors import UserError
from .models import MODELS, GenerativeModel

DEFAULT_DATA, DEFAULT_MODEL = "moons", "realnvp"
# The setup that reached a good held-out NLL soonest on each set (`python -m genmodels.bench.defaults`,
# BENCHMARKS.md "Choosing the defaults"): a query that names no model starts from it.
FASTEST_FIT = {data: {"model": "nsf", "layers": "3", "hidden": "32", "bins": "16", "lr": "0.01", "batch_size": "1024"}
               for data in ("moons", "8gaussians")}


@dataclass(frozen=True)
class Setup:
    data: str = DEFAULT_DATA
    model: str = DEFAULT_MODEL
    model_config: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.model not in MODELS:
            raise UserError(f"unknown model {shown(self.model)}; choose one of {', '.join(MODELS)}")
        if self.model_config is None:
            object.__setattr__(self, "model_config", MODELS[self.model].Config())
        if not MODELS[self.model].uses_lr and self.train.lr != TrainConfig.lr:
            raise UserError(f"{self.model} has its own learning rates (lr_g, lr_d): set those instead of lr")

    def load_data(self) -> Dataset:
        return load_dataset(self.data, self.train.seed)

    def build_model(self, data: Dataset) -> GenerativeModel:
        model = MODELS[self.model](self.model_config, data.dim, data.shape)
        model.levels = data.levels
        return model

    def to_query(self) -> dict[str, str]:
        """Only what differs from the defaults, as strings."""
        q = {"data": self.data, "model": self.model}
        q.update({k: str(v) for k, v in changed(self.train).items()})
        q.update({k: str(v) for k, v in changed(self.model_config).items()})
        return q

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "model": self.model, "train": to_dict(self.train),
                "model_config": to_dict(self.model_config)}

    @classmethod
    def parse(cls, query: dict[str, str]) -> tuple[Setup, list[str]]:
        """A Setup from query values, skipping (and reporting) every bad one. Without a (known) model, the
        data's `FASTEST_FIT` setup fills what the query leaves out or gets wrong."""
        problems: list[str] = []
        data = query.get("data", DEFAULT_DATA)
        try:
            if data != USER_POINTS:  # the user's own points are named, not held
                dataset_spec(data)  # a registered name, or a typed energy (checked)
        except UserError as e:
            problems.append(str(e))
            data = DEFAULT_DATA
        model = query.get("model")
        if model is not None and model not in MODELS:
            problems.append(f"unknown model {shown(model)}")
            model = None
        base = FASTEST_FIT.get(data, {}) if model is None else {}
        model = model or base.get("model", DEFAULT_MODEL)
        rest = {k: v for k, v in query.items() if k not in ("data", "model")}
        train = _lenient(TrainConfig, rest, problems, base)
        model_config = _lenient(MODELS[model].Config, rest, problems, base)
        for key in set(rest) - _names(TrainConfig) - _names(MODELS[model].Config):
            problems.append(f"unknown setting {shown(key)}")
        return cls(data, model, model_config, train), problems

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Setup:
        """Like `parse`, but any bad value is an error."""
        setup, problems = cls.parse(query)
        if problems:
            raise UserError(problems[0])
        return setup

    def replace(self, **changes) -> Setup:
        return dataclasses.replace(self, **changes)


def default_setup(data: str = DEFAULT_DATA) -> Setup:
    """What the app opens on `data` when nothing else is chosen: its fastest fit, else the defaults."""
    return Setup.parse({"data": data})[0]


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _lenient(cls: type, values: dict[str, str], problems: list[str], base: dict[str, str]):
    """cls from the good values, the rest from `base` (else cls's defaults); each bad value reported."""
    good = {k: v for k, v in base.items() if k in _names(cls)}  # base's "model" is no field
    for key in _names(cls) & set(values):
        try:
            build_config(cls, {key: values[key]})
            good[key] = values[key]
        except UserError as e:
            problems.append(str(e))
    return build_config(cls, good)
