"""Bad input never crashes a session or loses a run (issue 6, "Hosted use").

Each table row feeds one bad input and names the message the user must see. Library
rows assert a UserError whose text says what was wrong; CLI rows assert exit status 2
and one line on stderr; share-URL rows assert the bad value is reported and replaced
while the good values survive; app rows (AppTest) assert an error on the page, no
exception, and that the session's trained run (its Trainer and step count) is intact.
"""

from __future__ import annotations

import json
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from idx_files import idx_bytes, write_mnist
from safetensors.torch import load_file, save_file

from genmodels import checkpoint
from genmodels.cli import main as cli_main
from genmodels.config import TrainConfig, build_config
from genmodels.data import load_csv, load_dataset
from genmodels.data.images import read_idx
from genmodels.errors import UserError
from genmodels.hosting.limits import Limits
from genmodels.models import MODELS
from genmodels.setup import Setup, default_setup

torch.set_num_threads(1)
APP = Path(__file__).resolve().parents[1] / "playground" / "app.py"
RealNVPConfig = MODELS["realnvp"].Config
TINY = Setup(model="realnvp", model_config=RealNVPConfig(layers=2, hidden=8))


@dataclass(frozen=True)
class Bad:
    """One bad input: what it is, how to feed it, and a regex of the message the user must see."""

    name: str
    feed: Callable
    message: str

    def __repr__(self) -> str:
        return self.name


def rows(n: int, fmt: str = "{i},{j}") -> str:
    return "\n".join(fmt.format(i=i, j=(i * 7) % 5) for i in range(n))


# -- CSV files of 2D points --------------------------------------------------------------------
CSV = [
    Bad("empty CSV", lambda: load_csv(b""), r"CSV is empty"),
    Bad("header only", lambda: load_csv("x,y\n"), r"0 rows; at least 10"),
    Bad("comments and blank lines only", lambda: load_csv("# x, y\n\n   \n# end\n"), r"CSV is empty"),
    Bad("text in a cell", lambda: load_csv(rows(12) + "\n3,abc\n"), r"column y has text in row 13: 'abc'"),
    Bad("three columns", lambda: load_csv("1,2,3\n" + rows(12)), r"row 1 has 3 columns"),
    Bad("one column", lambda: load_csv("\n".join(map(str, range(20)))), r"row 1 has 1 columns"),
    Bad("NaN value", lambda: load_csv(rows(12) + "\nnan,1\n"), r"finite; column x is nan in row 13"),
    Bad("inf value", lambda: load_csv(rows(12) + "\n1,-inf\n"), r"finite; column y is -inf in row 13"),
    Bad("overflowing number", lambda: load_csv(rows(12) + "\n1e400,1\n"), r"finite; column x is 1e400"),
    Bad("too few rows", lambda: load_csv(rows(5)), r"5 rows; at least 10 points"),
    Bad("constant column", lambda: load_csv(rows(20, "{i},3")), r"do not spread in both x and y"),
    Bad("more rows than the cap", lambda: load_csv(rows(1001), max_rows=1000), r"more than 1,000 rows; at most 1,000"),
    Bad("random binary bytes", lambda: load_csv(np.random.default_rng(0).bytes(4000)), r"binary file, not CSV text"),
    Bad("mixed separators", lambda: load_csv(rows(12) + "\n1;2,3\n"), r"row 13 has 2 columns|has text in row 13"),
]


# -- IDX image files (LeCun's format), written in tmp_path ---------------------------------------
def read_idx_file(content: bytes, rank: int = 3, name: str = "train-images-idx3-ubyte") -> Callable:
    def feed(tmp_path: Path):
        (tmp_path / name).write_bytes(content)
        return read_idx(tmp_path / name, rank)

    return feed


def mnist_folder(image_dims: tuple[int, ...], n_labels: int) -> Callable:
    """A fake $GENMODELS_DATA/mnist whose train and test files have the given shapes."""

    def feed(tmp_path: Path, monkeypatch):
        write_mnist(tmp_path, idx_bytes(image_dims), idx_bytes((n_labels,)))
        return load_dataset("mnist", root=str(tmp_path))

    return feed


IDX = [
    Bad("wrong magic number", read_idx_file(idx_bytes((2, 28, 28), magic=b"\x00\x00\x09\x03")), r"bad magic number"),
    Bad("labels file read as images", read_idx_file(idx_bytes((10,))), r"not an IDX file of rank 3"),
    Bad("empty IDX file", read_idx_file(b""), r"not an IDX file of rank 3"),
    Bad("truncated pixels", read_idx_file(idx_bytes((10, 28, 28), body=bytes(100))), r"truncated: header promises"),
    Bad("header cut short", read_idx_file(b"\x00\x00\x08\x03\x00\x00"), r"truncated"),
    Bad("header promises 4 billion images", read_idx_file(idx_bytes((2**32 - 1, 28, 28), body=bytes(784))),
        r"truncated"),
    Bad("not really gzip", read_idx_file(idx_bytes((2, 28, 28)), name="train-images-idx3-ubyte.gz"),
        r"cannot read IDX file .*\.gz"),
    Bad("8x8 images instead of 28x28", mnist_folder((10, 8, 8), 10), r"mnist train: 10 images of \(8, 8\)"),
    Bad("fewer labels than images", mnist_folder((10, 28, 28), 7), r"10 images of \(28, 28\) vs 7 labels"),
    Bad("missing IDX files", lambda tmp_path, monkeypatch: load_dataset("mnist", root=str(tmp_path)),
        r"needs the IDX files"),
]


# -- hyper-parameters and caps -----------------------------------------------------------------
def model_config(**values) -> Callable:
    return lambda: build_config(RealNVPConfig, values)


def train_config(**values) -> Callable:
    return lambda: build_config(TrainConfig, values)


def over_cap(limits: Limits, setup: Setup) -> Callable:
    return lambda: limits.check(setup, setup.load_data())


HUGE = Setup(model="realnvp", model_config=RealNVPConfig(layers=32, hidden=1024, depth=6))  # 168M parameters
HYPER = [
    Bad("lr = 1e9", train_config(lr="1e9"), r"lr = 1000000000.0 is outside the allowed range"),
    Bad("lr = nan", train_config(lr="nan"), r"lr must be a finite number"),
    Bad("lr = -inf", train_config(lr="-inf"), r"lr must be a finite number"),
    Bad("10^6 layers", model_config(layers=10**6), r"layers = 1000000 is outside the allowed range \[1, 32\]"),
    Bad("hidden = 1e9", model_config(hidden="1e9"), r"hidden = 1000000000 is outside the allowed range"),
    Bad("hidden = 1e400", model_config(hidden="1e400"), r"hidden must be int"),
    Bad("fractional depth", model_config(depth="2.5"), r"depth must be int, got '2.5'"),
    Bad("negative steps", train_config(steps=-5), r"steps = -5 is outside"),
    Bad("zero batch size", train_config(batch_size=0), r"batch_size = 0 is outside"),
    Bad("seed is text", train_config(seed="abc"), r"seed must be int, got 'abc'"),
    Bad("unknown setting", train_config(momentum="0.9"), r"unknown setting 'momentum'"),
    Bad("model over the parameter cap", over_cap(Limits(max_params=10**6), HUGE),
        r"168,\d{3},\d{3} parameters; this server allows at most 1,000,000\. Lower the width"),
    Bad("steps over the step cap", over_cap(Limits(max_steps=1000), TINY.replace(train=TrainConfig(steps=5000))),
        r"steps = 5,000 is over this server's cap of 1,000"),
    Bad("bad GENMODELS_MAX_PARAMS", lambda: Limits.from_env({"GENMODELS_MAX_PARAMS": "lots"}),
        r"GENMODELS_MAX_PARAMS must be a positive whole number or \"none\", got 'lots'"),
    Bad("negative GENMODELS_IDLE_TIMEOUT", lambda: Limits.from_env({"GENMODELS_IDLE_TIMEOUT": "-1"}),
        r"GENMODELS_IDLE_TIMEOUT must be a positive number of seconds"),
    Bad("zero GENMODELS_LIVE_SHARE", lambda: Limits.from_env({"GENMODELS_LIVE_SHARE": "0"}),
        r"GENMODELS_LIVE_SHARE must be a positive number, got '0'"),
]


# -- checkpoint files: never unpickled, never trusted -----------------------------------------
TRIPPED: list[str] = []


def _tripwire() -> None:
    TRIPPED.append("a pickle was loaded")


class Payload:
    def __reduce__(self):
        return (_tripwire, ())


def saved(tmp_path: Path, setup: Setup = TINY) -> Path:
    path = tmp_path / "run.safetensors"
    checkpoint.save(str(path), setup.build_model(setup.load_data()).state_dict(), setup, 7)
    return path


def load_written(write: Callable[[Path], Path], limits: Limits | None = None) -> Callable:
    return lambda tmp_path: checkpoint.load(str(write(tmp_path)), limits)


def truncated(tmp_path: Path) -> Path:
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def write_bytes(content: bytes) -> Callable[[Path], Path]:
    def write(tmp_path: Path) -> Path:
        (tmp_path / "file.safetensors").write_bytes(content)
        return tmp_path / "file.safetensors"

    return write


def foreign(metadata: dict[str, str] | None) -> Callable[[Path], Path]:
    def write(tmp_path: Path) -> Path:
        save_file({"weight": torch.zeros(3, 3)}, str(tmp_path / "other.safetensors"), metadata=metadata)
        return tmp_path / "other.safetensors"

    return write


def torch_pickle(tmp_path: Path) -> Path:
    torch.save({"weights": torch.zeros(2), "payload": Payload()}, tmp_path / "run.safetensors")
    return tmp_path / "run.safetensors"


def edited(setup: object = None, step: str = "7", weights: Callable = lambda w: w) -> Callable[[Path], Path]:
    """A checkpoint of ours whose setup metadata (any JSON), step or weights were edited."""

    def write(tmp_path: Path) -> Path:
        path = saved(tmp_path)
        state = {k: weights(v) for k, v in load_file(str(path)).items()}
        query = TINY.to_query() if setup is None else setup
        save_file(state, str(path), metadata={"genmodels": "1", "setup": json.dumps(query), "step": step})
        return path

    return write


CHECKPOINTS = [
    Bad("truncated safetensors", load_written(truncated), r"not a readable safetensors checkpoint"),
    Bad("random bytes", load_written(write_bytes(np.random.default_rng(1).bytes(5000))),
        r"not a readable safetensors checkpoint"),
    Bad("empty file", load_written(write_bytes(b"")), r"not a readable safetensors checkpoint"),
    Bad("pickle file", load_written(write_bytes(pickle.dumps(Payload()))), r"not a readable safetensors checkpoint"),
    Bad("torch.save pickle", load_written(torch_pickle), r"not a readable safetensors checkpoint"),
    Bad("someone else's safetensors", load_written(foreign(None)), r"safetensors file but not a genmodels checkpoint"),
    Bad("corrupt setup metadata", load_written(foreign({"genmodels": "1", "setup": "{not json"})),
        r"corrupt setup metadata"),
    Bad("weights of another model", load_written(foreign({"genmodels": "1", "setup": json.dumps(TINY.to_query())})),
        r"does not match its model realnvp"),
    Bad("setup names an unknown model", load_written(edited({"model": "evil", "data": "moons"})),
        r"has a setup this version cannot use: unknown model 'evil'"),
    Bad("setup names a file as data", load_written(edited({"model": "realnvp", "data": "/etc/passwd.csv"})),
        r"unknown dataset '/etc/passwd.csv'"),
    Bad("setup is a JSON list", load_written(edited([1, 2])), r"corrupt setup metadata"),
    Bad("setup values are lists", load_written(edited({"model": ["realnvp"], "hidden": [8]})),
        r"setting 'model' must be text or a number, got a list"),
    Bad("step is not a number", load_written(edited(step="seven")), r"corrupt setup metadata"),
    Bad("NaN weights", load_written(edited(weights=lambda w: w * float("nan"))), r"non-finite weights"),
    Bad("setup of a model over the cap", load_written(edited(HUGE.to_query()), Limits(max_params=10**6)),
        r"parameters; this server allows at most 1,000,000"),
    Bad("missing file", lambda tmp_path: checkpoint.load(str(tmp_path / "nowhere.safetensors")),
        r"not a readable safetensors checkpoint"),
]


def feed(bad: Bad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Call bad.feed with the fixtures its signature names."""
    wanted = bad.feed.__code__.co_varnames[: bad.feed.__code__.co_argcount]
    available = {"tmp_path": tmp_path, "monkeypatch": monkeypatch}
    return bad.feed(*(available[n] for n in wanted))


@pytest.mark.parametrize("bad", CSV + IDX + HYPER + CHECKPOINTS, ids=repr)
def test_library_rejects_with_a_clear_message(bad, tmp_path, monkeypatch):
    with pytest.raises(UserError, match=bad.message) as info:
        feed(bad, tmp_path, monkeypatch)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert not TRIPPED, "a pickle was unpickled"


# -- the energy expression a user types (genmodels/data/energy.py, from the flows work) ------------
ENERGY = [
    Bad("__import__", "__import__('os').system('touch pwned')", r"unknown name '__import__'|not allowed"),
    Bad("dunder attribute walk", "().__class__.__bases__[0].__subclasses__()", r"not allowed|allowed:"),
    Bad("attribute of a variable", "x1.__class__", r"not allowed|allowed:"),
    Bad("lambda", "(lambda: 1)()", r"not allowed|allowed:"),
    Bad("string constant", "'a' * 10", r"not allowed|allowed:"),
    Bad("nested too deeply", "(" * 5000 + "x1" + ")" * 5000, r"too deeply|characters long"),
    Bad("not an expression", "x1 +* x2", r"not a valid expression"),
]


@pytest.mark.parametrize("bad", ENERGY, ids=repr)
def test_energy_expression_is_never_executed(bad, tmp_path, monkeypatch):
    energy = pytest.importorskip("genmodels.data.energy")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=bad.message):
        energy.parse_energy(bad.feed)
    assert list(tmp_path.iterdir()) == []


# -- the command line: exit 2, one line, no traceback -----------------------------------------
CLI = [
    Bad("--lr 1e9", ["train", "--lr", "1e9"], r"lr = 1000000000.0 is outside"),
    Bad("--layers 1000000", ["train", "--layers", "1000000"], r"layers = 1000000 is outside"),
    Bad("--hidden without a value", ["train", "--hidden"], r"--hidden needs a value"),
    Bad("--data /etc/passwd", ["train", "--data", "/etc/passwd"], r"unknown dataset '/etc/passwd'"),
    Bad("--data of a missing CSV", ["train", "--data", "missing.csv"], r"cannot read CSV file 'missing.csv'"),
    Bad("--device tpu", ["train", "--device", "tpu", "--steps", "1"], r"unknown device 'tpu'"),
]


@pytest.mark.parametrize("bad", CLI, ids=repr)
def test_cli_exits_2_with_one_line(bad, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli_main(bad.feed) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(bad.message, err) and err.startswith("error: ") and "\n" not in err


def test_cli_applies_the_environment_caps(capsys, monkeypatch):
    monkeypatch.setenv("GENMODELS_MAX_PARAMS", "1000")
    assert cli_main(["train", "--steps", "1"]) == 2
    assert "this server allows at most 1,000" in capsys.readouterr().err


# -- tampered share URLs: the bad value is reported and replaced, the rest is kept ---------------
URLS = [
    Bad("lr = 1e9", {"lr": "1e9"}, r"lr = 1000000000.0 is outside"),
    Bad("lr = nan", {"lr": "nan"}, r"lr must be a finite number"),
    Bad("steps = 1e999", {"steps": "1e999"}, r"steps must be int"),
    Bad("empty batch size", {"batch_size": ""}, r"batch_size must be int, got ''"),
    Bad("negative seed", {"seed": "-1"}, r"seed = -1 is outside"),
    Bad("script in a number", {"depth": "<script>alert(1)</script>"}, r"depth must be int"),
    Bad("path as model", {"model": "../../etc/passwd"}, r"unknown model '../../etc/passwd'"),
    Bad("path as dataset", {"data": "/etc/passwd.csv"}, r"unknown dataset '/etc/passwd.csv'"),
    Bad("dunder key", {"__class__": "os.system"}, r"unknown setting '__class__'"),
    Bad("10^6 layers", {"layers": "1000000"}, r"layers = 1000000 is outside"),
]


@pytest.mark.parametrize("bad", URLS, ids=repr)
def test_tampered_share_url_keeps_the_good_values(bad):
    setup, problems = Setup.parse({"hidden": "16", "lr": "0.02", **bad.feed})
    assert any(re.search(bad.message, p) for p in problems), problems
    default = default_setup()  # a query without a (known) model starts from the data's fastest fit
    assert setup.model == default.model and setup.data in ("moons",) and setup.model_config.hidden == 16
    assert setup.train.lr == (0.02 if "lr" not in bad.feed else default.train.lr)
    with pytest.raises(UserError, match=bad.message):
        Setup.from_query({**bad.feed})


# -- the app: an error on the page, no exception, and the trained run intact ------------------
CAPS = Limits(max_params=200_000, max_steps=5000, max_rows=100)


@pytest.fixture
def trained_app(monkeypatch):
    """A session whose default run has trained 3 steps, under small caps."""
    from streamlit.testing.v1 import AppTest

    import playground.session

    monkeypatch.setattr(playground.session, "limits", lambda: CAPS)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception and not at.error
    run = at.session_state["run"]
    for _ in range(3):
        run.trainer.step()
    deadline = time.monotonic() + 120
    while run.trainer.snapshot().step < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield at, run
    at.session_state["run"].trainer.close()
    run.trainer.close()


def upload(content: bytes) -> Callable:
    def act(at):
        at.selectbox(key="dataset").set_value("csv").run()
        at.file_uploader(key="csv_file").set_value(("points.csv", content, "text/csv")).run()

    return act


APP_ROWS = [
    Bad("widgets: model over the parameter cap", lambda at: at.number_input(key="nsf.hidden").set_value(512).run(),
        r"\d{3},\d{3} parameters; this server allows at most 200,000"),
    Bad("widgets: steps over the step cap", lambda at: at.number_input(key="train.steps").set_value(100_000).run(),
        r"steps = 100,000 is over this server's cap of 5,000"),
    Bad("CSV chosen, nothing uploaded", lambda at: at.selectbox(key="dataset").set_value("csv").run(),
        r"upload a CSV of 2D points .* 10 to 100 rows"),
    Bad("upload: text in a cell", upload(b"x,y\n1,2\n3,abc\n"), r"points.csv: CSV needs two numeric columns"),
    Bad("upload: empty file", upload(b""), r"points.csv: the CSV is empty"),
    Bad("upload: NaN", upload((rows(12) + "\nnan,nan\n").encode()), r"points.csv: CSV values must be finite"),
    Bad("upload: over the row cap", upload(rows(150).encode()), r"points.csv: the CSV has more than 100 rows"),
    Bad("upload: binary garbage", upload(np.random.default_rng(2).bytes(3000)), r"points.csv: this is a binary file"),
]


@pytest.mark.parametrize("bad", APP_ROWS, ids=repr)
def test_app_reports_bad_input_and_keeps_the_run(bad, trained_app):
    at, run = trained_app
    bad.feed(at)
    assert not at.exception
    assert any(re.search(bad.message, e.value) for e in at.error), [e.value for e in at.error]
    assert at.session_state["run"] is run and not run.trainer.closed
    assert run.trainer.snapshot().step == 3


@pytest.mark.parametrize("query, messages", [
    ({"lr": "1e9", "model": "evil", "layers": "1e6", "foo": "bar", "hidden": "16"},
     ["unknown model 'evil'", "lr = 1000000000.0 is outside", "layers = 1000000 is outside", "unknown setting 'foo'"]),
    ({"data": "../../../etc/passwd", "steps": "nan", "hidden": "16"},
     ["unknown dataset '../../../etc/passwd'", "steps must be int"]),
])
def test_app_survives_a_tampered_share_url(query, messages, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import playground.session

    monkeypatch.setattr(playground.session, "limits", lambda: CAPS)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query)
    at.run()
    try:
        warnings = " | ".join(w.value for w in at.warning)
        assert not at.exception and all(m in warnings for m in messages), warnings
        assert at.session_state["run"].setup.model_config.hidden == 16  # the good value survived
    finally:
        at.session_state["run"].trainer.close()


def test_app_rejects_a_shared_model_over_the_cap_without_building_it(monkeypatch):
    from streamlit.testing.v1 import AppTest

    import playground.session

    monkeypatch.setattr(playground.session, "limits", lambda: CAPS)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(HUGE.to_query())
    at.run()
    assert not at.exception and "run" not in at.session_state
    assert any("parameters; this server allows at most 200,000" in e.value for e in at.error)


def test_at_least_30_bad_inputs():
    assert len(CSV + IDX + HYPER + CHECKPOINTS + ENERGY + CLI + URLS + APP_ROWS) >= 30
