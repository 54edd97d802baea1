"""Property-based fuzzing (hypothesis) of every parser of user text or files (issue 16).

Share-URL queries, stop_when targets, CSV text and bytes, energy expressions, config JSON,
checkpoint metadata, drawing-canvas objects and IDX headers: for any input the only
exception that escapes is UserError, its message is one short line, each call stays
within the profile's deadline, and what is accepted is usable (finite points, a finite
log-normaliser, an array of the header's shape).

The `make test` profile ("suite", in conftest.py) runs 50 derandomised examples per parser;
`make fuzz` runs the "fuzz" profile: 2,000 random examples each.
"""

from __future__ import annotations

import dataclasses
import json
import string
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from genmodels import checkpoint
from genmodels.config import TrainConfig
from genmodels.data import DATASETS, load_csv
from genmodels.data.drawn import canvas_points
from genmodels.data.energy import FUNCTIONS, Target
from genmodels.data.images import read_idx
from genmodels.errors import UserError
from genmodels.hosting.limits import count_parameters
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.stopping import parse_target

MAX_MESSAGE = 1000
FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def refused_clearly(call, *args):
    """call(*args), or None if it raised a one-line UserError; any other exception fails the test."""
    try:
        result = call(*args)
    except UserError as e:
        assert "\n" not in str(e) and len(str(e)) < MAX_MESSAGE, str(e)[:2000]
        event(f"{call.__name__}: refused")
        return None
    event(f"{call.__name__}: accepted")
    return result


@pytest.fixture(scope="module", autouse=True)
def _warm_caches():
    """Once-per-process costs outside any example's deadline: the embedded image sets are parsed, and
    torch imports its meta-device kernels (seconds) when a model is first counted."""
    for name in ("digits", "mnist5k"):
        DATASETS[name].load(0)
    count_parameters(lambda: Setup().build_model(Setup().load_data()))


# -- text that looks like what users type -----------------------------------------------------
NUMBERS = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e999", "-1e-400", "nan", "inf", "0x1f", "1_000", "٣", "1e308", "2.5", "", " 7 ", "-0"]),
    st.sampled_from([400, 5000]).map(lambda n: "9" * n),  # (built, so that the strategy's repr stays short)
)
TEXT = st.text(max_size=60) | st.text(string.printable, max_size=200)

SETTING_NAMES = sorted({f.name for f in dataclasses.fields(TrainConfig)}
                       | {f.name for cls in MODELS.values() for f in dataclasses.fields(cls.Config)})


# -- share-URL queries and stop_when ------------------------------------------------------------
QUERY = st.dictionaries(
    st.sampled_from(["data", "model", *SETTING_NAMES]) | st.text(max_size=12),
    st.sampled_from([*DATASETS, *MODELS, "csv", "../../etc/passwd.csv"]) | NUMBERS | TEXT,
    max_size=6,
)


@given(QUERY)
def test_a_share_url_is_parsed_with_its_problems_listed(query):
    setup, problems = Setup.parse(query)
    assert isinstance(setup, Setup) and all("\n" not in p and len(p) < MAX_MESSAGE for p in problems)
    assert (refused_clearly(Setup.from_query, query) is None) == bool(problems)


@given(TEXT | st.from_regex(r"\s*[A-Za-z_]\w{0,8}\s*[<>]\s*[-+]?[0-9.eE+-]{0,12}\s*", fullmatch=True))
def test_stop_when_is_a_target_none_or_a_user_error(text):
    target = refused_clearly(parse_target, text)
    assert target is None or np.isfinite(target.value)


# -- CSV ------------------------------------------------------------------------------------------
SEPARATOR = st.sampled_from([",", ";", "\t", " "])
CELL = NUMBERS | st.text(" \t#,;xyé\x00\ufeff", max_size=4)
CSV_LINE = st.lists(CELL, min_size=0, max_size=3).flatmap(
    lambda cells: SEPARATOR.map(lambda sep: sep.join(cells)))
FINITE = st.floats(allow_nan=False, allow_infinity=False).map(repr) | st.integers(-10**6, 10**6).map(str)
CSV_ROWS = st.tuples(st.lists(st.tuples(FINITE, FINITE), min_size=8, max_size=40), SEPARATOR,
                     st.lists(CSV_LINE, max_size=2)).map(  # rows of two numbers, and perhaps a stray line or two
    lambda t: "\n".join([t[1].join(row) for row in t[0]] + t[2]))
CSV_TEXT = st.lists(CSV_LINE, max_size=40).map("\n".join) | CSV_ROWS


@given(CSV_TEXT | TEXT)
def test_csv_text_gives_standardised_points_or_a_user_error(text):
    data = refused_clearly(load_csv, text)
    if data is not None:
        x = np.concatenate([data.train, data.test])
        assert np.isfinite(x).all() and len(x) >= 10
        np.testing.assert_allclose(x.std(0), 1, rtol=1e-3)


POINTS = st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=10, max_size=40, unique=True)


@given(POINTS, st.sampled_from(["\r\n", "\r", "\n\n"]), st.sampled_from(["", "x,y", "# points"]),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_a_csvs_points_do_not_depend_on_its_line_ends_header_or_encoding(points, newline, header, encoding):
    plain = "\n".join(f"{x!r},{y!r}" for x, y in points)
    variant = newline.join(([header] if header else []) + plain.split("\n")).encode(encoding)
    a, b = refused_clearly(load_csv, plain), refused_clearly(load_csv, variant)
    assert (a is None) == (b is None)
    if a is not None:
        np.testing.assert_array_equal(a.train, b.train)


@given(st.binary(max_size=3000) | CSV_TEXT.map(lambda t: t.encode("utf-16")) | CSV_TEXT.map(str.encode))
def test_csv_bytes_give_points_or_a_user_error(content):
    data = refused_clearly(load_csv, content)
    assert data is None or np.isfinite(data.train).all()


# -- energy expressions -------------------------------------------------------------------------
LEAVES = st.sampled_from(["x1", "x2", "x", "y", "pi", "e", "z", "__import__", "()", "''"]) | NUMBERS.filter(
    lambda n: len(n) < 40) | st.sampled_from(["0x" + "f" * 100, "0b101", "1j", "True"])


def _combine(children):
    op = st.sampled_from(["+", "-", "*", "/", "**", "^", "%", "//", "<", "and"])
    call = st.tuples(st.sampled_from([*FUNCTIONS, "eval", "getattr"]), st.lists(children, max_size=3))
    return st.one_of(
        st.tuples(children, op, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "+", "not "]), children).map("".join),
        call.map(lambda c: f"{c[0]}({', '.join(c[1])})"),
        children.map(lambda c: f"{c}.__class__"),
    )


def _arithmetic(children):
    op = st.sampled_from(["+", "-", "*", "/", "**"])
    call = st.tuples(st.sampled_from(list(FUNCTIONS)), children, children).map(
        lambda c: f"{c[0]}({c[1]})" if FUNCTIONS[c[0]][0] == 1 else f"{c[0]}({c[1]}, {c[2]})")
    return st.tuples(children, op, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})") | call


WELL_FORMED = st.recursive(st.sampled_from(["x1", "x2", "x1**2", "x2**2", "2", "0.5", "pi"]), _arithmetic,
                           max_leaves=8).map(lambda u: f"(x1**2 + x2**2) / 2 + {u}")  # often integrable
ENERGY = st.recursive(LEAVES, _combine, max_leaves=12) | WELL_FORMED | TEXT


@FIXTURES
@given(ENERGY)
def test_an_energy_is_a_normalised_target_or_a_user_error(spec):
    target = refused_clearly(Target, spec)
    assert target is None or np.isfinite(target.log_z)


# -- config JSON and checkpoint metadata ----------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | NUMBERS | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
PLAUSIBLE = st.sampled_from([*DATASETS, *MODELS]) | st.integers(1, 64) | st.floats(1e-4, 1.0) | st.booleans()
SETUP_JSON = st.dictionaries(st.sampled_from(["data", "model", *SETTING_NAMES]), PLAUSIBLE | JSON | NUMBERS, max_size=5)
CONFIG = st.one_of(
    st.builds(lambda setup, tag: {"genmodels": tag, "setup": setup}, SETUP_JSON, st.sampled_from([1, "1", True])),
    JSON,
).map(json.dumps) | TEXT | st.sampled_from([3000, 5000]).map(
    lambda n: "[" * n + "]" * n if n == 3000 else '{"genmodels": 1, "setup": ' + "9" * n + "}")


@given(CONFIG | st.binary(max_size=200))
def test_a_config_file_is_a_setup_or_a_user_error(text):
    setup = refused_clearly(checkpoint.setup_from_json, text, "config.json")
    assert setup is None or isinstance(setup, Setup)


@FIXTURES
@given(st.fixed_dictionaries({"genmodels": st.sampled_from(["1", "2", ""]),
                              "setup": SETUP_JSON.map(json.dumps) | CONFIG,
                              "step": st.sampled_from(["0", "7", "-1", "1e3", "9" * 5000]) | TEXT}))
def test_checkpoint_metadata_is_a_run_or_a_user_error(tmp_path, metadata):
    path = tmp_path / "fuzz.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path), metadata=metadata)
    assert refused_clearly(checkpoint.load, str(path)) is None  # one small tensor fits no model's setup


# -- drawing-canvas objects ------------------------------------------------------------------------
COORD = st.floats() | st.integers(-10**20, 10**20) | st.none() | st.text(max_size=3) | st.booleans()
COMMAND = st.tuples(st.sampled_from(["M", "L", "Q", "Z"]) | COORD, st.lists(COORD, max_size=4)).map(
    lambda c: [c[0], *c[1]])
FABRIC = st.fixed_dictionaries(
    {"type": st.sampled_from(["path", "Path", "circle", "Circle", "rect"]) | COORD},
    optional={"path": st.lists(COMMAND, max_size=6) | JSON, "left": COORD, "top": COORD, "radius": COORD,
              "originX": st.sampled_from(["left", "center"]) | COORD, "originY": st.sampled_from(["top", "center"])},
)


@given(st.lists(FABRIC, max_size=6) | JSON)
def test_canvas_objects_are_points_or_a_user_error(objects):
    points = refused_clearly(canvas_points, objects, 400, 400, 50)
    assert points is None or (points.shape[1:] == (2,) and len(points) <= 50 and np.isfinite(points).all())


# -- IDX headers ----------------------------------------------------------------------------------
IDX = st.builds(
    lambda magic, dims, body: magic + struct.pack(f">{len(dims)}I", *dims) + body,
    st.sampled_from([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x09\x03", b""]) | st.binary(max_size=4),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 30), max_size=4),
    st.binary(max_size=2000),
)


CONSISTENT_IDX = st.builds(  # a header and a body that agree, or miss by a byte
    lambda dims, extra: bytes([0, 0, 8, 3]) + struct.pack(">3I", *dims) + bytes(max(0, int(np.prod(dims)) + extra)),
    st.tuples(st.integers(0, 4), st.integers(0, 9), st.integers(0, 9)), st.sampled_from([0, 0, 0, -1, 1]))


@FIXTURES
@given(IDX | CONSISTENT_IDX | st.binary(max_size=64))
def test_an_idx_file_is_an_array_of_its_header_shape_or_a_user_error(tmp_path, content):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    images = refused_clearly(read_idx, path, 3)
    assert images is None or images.ndim == 3 and images.size == len(content) - 16 > 0
