"""Setups round-trip through share-URL query dicts; bad values are reported, never crash."""

import dataclasses

import pytest

from genmodels.config import TrainConfig, build_config
from genmodels.errors import UserError
from genmodels.models import MODELS
from genmodels.setup import FASTEST_FIT, Setup, default_setup


def test_default_setup_is_moons_realnvp_and_round_trips():
    s = Setup()
    assert (s.data, s.model) == ("moons", "realnvp")
    assert Setup.from_query(s.to_query()) == s


def test_changed_settings_round_trip_through_strings():
    cls = MODELS["realnvp"].Config
    s = Setup("8gaussians", "realnvp", cls(layers=4, hidden=32), TrainConfig(lr=3e-4, seed=7, batch_size=64))
    q = s.to_query()
    assert all(isinstance(v, str) for v in q.values())
    assert q["layers"] == "4" and q["seed"] == "7" and "depth" not in q  # defaults stay out of the URL
    assert Setup.from_query(q) == s


@pytest.mark.parametrize(
    "query, problem",
    [
        ({"data": "nope"}, "unknown dataset 'nope'"),
        ({"model": "gpt5"}, "unknown model 'gpt5'"),
        ({"lr": "1e9"}, "lr = 1000000000.0 is outside"),
        ({"lr": "nan"}, "lr must be a finite number"),
        ({"layers": "1000000"}, "layers = 1000000 is outside"),
        ({"layers": "2.5"}, "layers must be int"),
        ({"seed": "-1"}, "seed = -1 is outside"),
        ({"batch_size": "<script>"}, "batch_size must be int"),
        ({"evil": "1"}, "unknown setting 'evil'"),
    ],
)
def test_tampered_query_falls_back_to_defaults_with_a_message(query, problem):
    setup, problems = Setup.parse({"data": "moons", **query})
    assert any(problem in p for p in problems), problems
    assert setup == default_setup("moons")
    with pytest.raises(UserError):
        Setup.from_query({"data": "moons", **query})


def test_a_query_without_a_model_starts_from_its_datas_fastest_fit():
    for data, fastest in FASTEST_FIT.items():
        assert default_setup(data) == Setup.from_query({"data": data, **fastest})
        assert Setup.from_query({"data": data, "seed": "4"}) == default_setup(data).replace(
            train=dataclasses.replace(default_setup(data).train, seed=4))
    assert default_setup("digits") == Setup("digits")  # no measured fastest fit: the defaults
    chosen = Setup.from_query({"data": "moons", "model": "realnvp"})  # a named model keeps its own defaults
    assert chosen == Setup() and chosen.to_query() == {"data": "moons", "model": "realnvp"}
    assert Setup.from_query(default_setup().to_query()) == default_setup()


def test_good_values_survive_beside_bad_ones():
    setup, problems = Setup.parse({"data": "rings", "lr": "oops", "seed": "3"})
    assert setup.data == "rings" and setup.train.seed == 3 and len(problems) == 1


def test_config_field_names_never_clash():
    """Model settings share the URL namespace with the training settings."""
    reserved = {f.name for f in dataclasses.fields(TrainConfig)} | {"data", "model"}
    for name, cls in MODELS.items():
        assert not reserved & {f.name for f in dataclasses.fields(cls.Config)}, name


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_config_has_valid_defaults_and_ranges(name):
    cls = MODELS[name].Config
    default = cls()
    assert build_config(cls, dataclasses.asdict(default)) == default
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        if "min" in f.metadata:
            assert f.metadata["min"] <= value <= f.metadata["max"], f.name
        if "choices" in f.metadata:
            assert value in f.metadata["choices"], f.name
