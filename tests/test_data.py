import gzip

import numpy as np
import pytest

from genmodels.data import DATASETS, load_csv, load_dataset, toy2d
from genmodels.data.images import read_idx
from genmodels.errors import UserError

TOYS = [n for n, s in DATASETS.items() if s.kind == "dataset-2d"]


@pytest.mark.parametrize("name", TOYS)
def test_toy_shapes_and_determinism(name):
    a, b, c = load_dataset(name, 0), load_dataset(name, 0), load_dataset(name, 1)
    assert a.train.shape == (50_000, 2) and a.test.shape == (5_000, 2)
    assert a.train.dtype == np.float32 and np.isfinite(a.train).all()
    np.testing.assert_array_equal(a.test, b.test)  # a fixed held-out set per seed
    assert not np.array_equal(a.test, c.test)
    assert not np.array_equal(a.train[:100], a.test[:100])


@pytest.mark.parametrize("name, n, side", [("digits", 1797, 8), ("mnist5k", 5000, 28)])
def test_embedded_image_sets(name, n, side):
    d, again, other = load_dataset(name, 0), load_dataset(name, 0), load_dataset(name, 1)
    assert d.is_image and d.shape == (1, side, side) and d.train.shape[1] == side * side
    assert len(d.train) + len(d.test) == n
    assert 0 <= d.train.min() and d.train.max() <= 1
    assert set(np.unique(d.test_labels)) == set(range(10))
    np.testing.assert_array_equal(d.test, again.test)
    assert not np.array_equal(d.test, other.test)


@pytest.mark.parametrize("mixture", [toy2d.EIGHT_GAUSSIANS, toy2d.TWENTY_FIVE_GAUSSIANS])
def test_mixture_density_integrates_to_one(mixture):
    lo, hi = mixture.centres.min() - 6 * mixture.std, mixture.centres.max() + 6 * mixture.std
    g = np.linspace(lo, hi, 300)
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    mass = np.exp(mixture.log_prob(xy)).sum() * (g[1] - g[0]) ** 2
    assert mass == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("mixture", [toy2d.RING8, toy2d.GRID25])
def test_narrow_mixture_density_at_a_centre(mixture):
    """Components 100 std apart: p(mu_k) = (1/K) N(0; 0, σ²I) = 1 / (2πσ²K)."""
    k, s2 = len(mixture.centres), mixture.std**2
    np.testing.assert_allclose(mixture.log_prob(mixture.centres), -np.log(2 * np.pi * s2 * k), rtol=1e-9)


def test_eight_gaussians_entropy_matches_separated_mixture_formula():
    """Well separated: H = log K + H(N(0, σ²I)) = log 8 + 1 + log(2πσ²), up to a tiny overlap term."""
    d = load_dataset("8gaussians")
    s2 = toy2d.EIGHT_GAUSSIANS.std ** 2
    assert d.entropy == pytest.approx(np.log(8) + 1 + np.log(2 * np.pi * s2), abs=0.02)


def test_checkerboard_samples_lie_on_its_support():
    d = load_dataset("checkerboard")
    log_p = d.log_prob(d.test)
    assert np.all(log_p == -np.log(32))
    assert np.isinf(d.log_prob(np.array([[1.0, -1.0], [1.0, 1.0]]))).sum() == 1


def test_csv_with_and_without_header_is_standardised():
    rows = "\n".join(f"{i},{2 * i + 1}" for i in range(20))
    for text in (rows, "x,y\n" + rows, rows.replace(",", ";"), rows.replace(",", " ")):
        d = load_csv(text)
        x = np.concatenate([d.train, d.test])
        assert len(x) == 20
        np.testing.assert_allclose(x.mean(0), 0, atol=1e-6)
        np.testing.assert_allclose(x.std(0), 1, atol=1e-5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("x,y\n", "0 rows; at least 10"),
        ("1,2\n" * 5, "at least 10"),
        ("1,2\n" * 11 + "3,oops\n", "column y has text in row 12"),
        ("1,2,3\n" * 12, "row 1 has 3 columns"),
        ("1,2\n" * 11 + "nan,2\n", "finite; column x is nan in row 12"),
        ("1,2\n" * 11 + "1,inf\n", "column y is inf"),
        ("1,2\n" * 12, "constant"),
    ],
)
def test_bad_csv_names_the_problem(text, message):
    with pytest.raises(UserError, match=message):
        load_csv(text)


def _idx(images: np.ndarray, magic: bytes = b"\x00\x00\x08\x03") -> bytes:
    dims = b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    return magic + dims + images.astype(np.uint8).tobytes()


def test_read_idx_round_trip_and_bad_headers(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28))
    good = tmp_path / "good-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(_idx(images)))
    np.testing.assert_array_equal(read_idx(good, 3), images)
    (tmp_path / "magic").write_bytes(_idx(images, b"\x00\x00\x08\x01"))
    with pytest.raises(UserError, match="not an IDX file of rank 3"):
        read_idx(tmp_path / "magic", 3)
    (tmp_path / "short").write_bytes(_idx(images)[:-10])
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "short", 3)


def test_missing_idx_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_DATA", str(tmp_path))
    with pytest.raises(UserError, match=f"GENMODELS_DATA.*|{tmp_path / 'mnist'}"):
        load_dataset("mnist")
    with pytest.raises(UserError, match=str(tmp_path / "given" / "mnist")):  # a root given beats the environment
        load_dataset("mnist", root=str(tmp_path / "given"))


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'nope'"):
        load_dataset("nope")
