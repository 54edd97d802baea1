"""The benchmark's plumbing on a tiny budget: well-formed records, report and CLI. No timing is asserted."""

import json
import math

import pytest
import torch

from genmodels import cli
from genmodels.bench import defaults, families, gans, images, peers
from genmodels.bench import suite as bench
from genmodels.models import MODELS

TINY = bench.Budget(seconds=0.05, warm_up=0.02, repeats=1, fit_seconds=0.01, eval_every=2,
                    fit_data=("8gaussians",), speed_data=("moons",), all_models=False)
KEYS = {"model", "data", "batch", "threads", "steps_per_s", "ui_ratio", "time_to_target_s", "test_nll",
        "entropy", "added_rss_mb", "library"}


@pytest.fixture(scope="module")
def records():
    with pytest.MonkeyPatch.context() as env:  # visuals as often as the page asks: the UI rate's wait is short
        env.setenv("GENMODELS_LIVE_SHARE", "1")
        return bench.run_benchmarks(TINY, log=lambda line: None)


def test_records_have_the_promised_keys_and_types(records):
    assert records and all(KEYS <= set(r) for r in records)
    json.dumps(records)  # serialisable as written by --json
    for r in records:
        assert r["steps_per_s"] >= 0 and r["added_rss_mb"] >= 0 and r["threads"] >= 1
        assert r["library"] in ("genmodels", *(p.library for p in peers.PEERS))


def test_one_speed_record_per_contender_and_thread_count(records):
    speed = [r for r in records if r["kind"] == "speed"]
    contenders = [c for c in bench.contenders(all_models=False) if c.speed]
    assert len(speed) == len(contenders) * len({1, bench.os.cpu_count() or 1})
    assert {r["model"] for r in speed if r["library"] == "genmodels"} == set(bench.representatives())
    assert all(r["batch"] == bench.SPEED_DATA["moons"] for r in speed)
    for r in speed:  # only our models open the page, and the app trains with one thread
        assert (r["ui_ratio"] is not None) == (r["library"] == "genmodels" and r["threads"] == 1)


def test_our_realnvp_is_also_measured_compiled_with_its_compile_time(records):
    compiled = [r for r in records if r["compiled"]]
    assert {(r["library"], r["model"]) for r in compiled} == {("genmodels", "realnvp")}
    assert {r["kind"] for r in compiled} == {"speed", "fit"}
    assert all(r["compile_s"] > 0 for r in compiled)
    assert all(r["compile_s"] is None for r in records if not r["compiled"])


def test_fits_report_held_out_nll_and_entropy_for_exact_likelihood_models(records):
    fits = [r for r in records if r["kind"] == "fit"]
    assert {(r["library"], r["model"]) for r in fits} >= {("genmodels", "realnvp")}
    for r in fits:
        assert r["data"] == "8gaussians" and r["target_nll"] == bench.TARGET_NLL["8gaussians"]
        assert math.isfinite(r["test_nll"]) and r["entropy"] == pytest.approx(2.832, abs=0.01)
        assert r["time_to_target_s"] is None or r["time_to_target_s"] > 0


def test_peers_train_by_their_own_loop_with_torchs_adam_and_nsf_only_to_a_target(records):
    peer_records = [r for r in records if r["library"] != "genmodels"]
    assert {(r["library"], r["model"]) for r in peer_records} == {(p.library, p.model) for p in peers.available()}
    assert {r["optimizer"] for r in peer_records} == {"Adam"}
    assert {r["kind"] for r in peer_records if r["model"] == "nsf"} <= {"fit"}
    assert any(r["library"] == "plain-torch" and r["kind"] == "speed" for r in records)  # needs no package


def test_the_plain_realnvp_log_prob_is_the_change_of_variables_with_an_autograd_jacobian():
    """log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x|, the Jacobian by autograd, on random non-zero weights."""
    torch.manual_seed(0)
    flow = peers.PlainRealNVP(MODELS["realnvp"].Config(layers=3, hidden=8), 4).double()
    for p in flow.parameters():
        p.data.normal_(0, 0.3)
    for x in torch.randn(3, 4, dtype=torch.float64):
        jacobian = torch.func.jacrev(lambda y: _push(flow, y))(x)
        log_base = torch.distributions.Normal(0.0, 1.0).log_prob(_push(flow, x)).sum()
        expected = log_base + torch.linalg.slogdet(jacobian)[1]
        assert float(flow.log_prob(x[None]).detach()) == pytest.approx(float(expected), abs=1e-10)


def test_markdown_has_a_row_per_record_and_the_peer_ratios(records):
    text = bench.markdown(records, TINY, bench.machine())
    measured, _, against_peers = text.partition("## Our RealNVP against the peers")
    rows = [line for line in measured.splitlines() if line.startswith("| ") and not line.startswith("| library")]
    assert len(rows) == len(records)
    assert "torch:" in text and "cpu:" in text
    peer_rows = [line for line in against_peers.splitlines() if line.startswith("| ") and not line.startswith("| peer")]
    assert len(peer_rows) == sum(r["library"] != "genmodels" and (r["kind"] == "speed" or r["target_nll"] is not None)
                                 for r in records)


def test_missing_peers_are_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(peers, "available", lambda: [])
    lines = []
    empty = bench.Budget(speed_data=(), fit_data=())
    assert bench.run_benchmarks(empty, log=lines.append) == []
    assert sum("not installed" in line for line in lines) == len(peers.PACKAGES)
    assert all(c.library == "genmodels" for c in bench.contenders(all_models=True))
    assert [c.model for c in bench.contenders(all_models=True) if not c.compiled] == list(MODELS)


def test_cli_bench_writes_markdown_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "QUICK", bench.Budget(speed_data=(), fit_data=("8gaussians",), fit_seconds=0.01,
                                                     eval_every=2, all_models=False))
    monkeypatch.setattr(peers, "available", lambda: [])
    monkeypatch.setattr(gans, "QUICK", gans.GANBudget(seeds=(0,), steps=1, cpu_seconds=0.01, data=("ring8",),
                                                      ablations=False, workers=1))
    monkeypatch.setattr(families, "QUICK", families.FamilyBudget(steps=2, data=("8gaussians",), models=("realnvp",),
                                                                 workers=1))
    monkeypatch.setattr(images, "QUICK", TINY_IMAGES)
    out, md = tmp_path / "b.json", tmp_path / "B.md"
    assert cli.main(["bench", "--quick", "--json", str(out), "--markdown", str(md)]) == 0
    saved = json.loads(out.read_text())
    kinds = [r["kind"] for r in saved]
    assert saved[0]["library"] == "genmodels" and kinds[-7:] == ["gan", "family", "family", *["images"] * 4]
    text = md.read_text()
    assert text.startswith("# Benchmarks") and "## GANs" in text and "## Every family on the same data" in text
    assert images.HEADING in text and "wrote" in capsys.readouterr().out


TINY_IMAGES = images.ImageBudget(batches=(4, 8), seconds=0.01, warm_up=1, models=("vae", "nsgan"))


def test_the_image_table_alone_counts_images_per_second_and_keeps_the_other_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "FULL", TINY_IMAGES)
    md = tmp_path / "B.md"
    md.write_text("# Benchmarks\n\n## GANs\n\nkept\n")
    assert cli.main(["bench", "--images", "--device", "cpu", "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "## GANs\n\nkept" in text and images.HEADING in text
    rows = [line for line in text.splitlines() if line.startswith(("| vae", "| nsgan"))]
    assert len(rows) == 4  # each model at each batch
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        batch, rounds_per_s, images_per_s = int(cells[4]), float(cells[5]), float(cells[6].replace(",", ""))
        assert images_per_s > 0 and images_per_s == pytest.approx(batch * rounds_per_s, rel=0.05, abs=1)


def test_peer_ratios_compare_like_with_like_and_skip_fits_without_a_target():
    def rec(library, kind, data, target, time_s, rate, compiled=False, app_default=False, batch=512):
        return {"library": library, "model": "realnvp", "compiled": compiled, "kind": kind, "data": data,
                "batch": batch, "threads": 1, "device": "cpu", "optimizer": "Adam", "target_nll": target,
                "time_to_target_s": time_s, "steps_per_s": rate, "app_default": app_default}

    records = [
        rec("genmodels", "speed", "moons", None, None, 60.0),
        rec("genmodels", "speed", "moons", None, None, 90.0, compiled=True),
        rec("zuko", "speed", "moons", None, None, 40.0),
        rec("genmodels", "fit", "moons", 2.45, 5.0, 60.0),
        rec("zuko", "fit", "moons", 2.45, 15.0, 40.0),
        rec("genmodels", "fit", "moons", 2.45, 3.0, 50.0, app_default=True, batch=1024),  # its own batch
        rec("genmodels", "fit", "checkerboard", None, None, 60.0),  # entropy gap only: no ratio
        rec("zuko", "fit", "checkerboard", None, None, 40.0),
    ]
    rows = bench.peer_ratios(records)
    assert [row[2:4] + row[-3:] for row in rows] == [["steps/s", "moons", "1.50x", "2.25x", "–"],
                                                     ["time to NLL 2.45", "moons", "3.00x", "–", "5.00x"]]


def _push(flow, x):
    """The plain flow's map towards the base, written out once more from its docstring."""
    for b, s_net, t_net in zip(flow.masks.flip(0), flow.s[::-1], flow.t[::-1]):
        x = b * x + (1 - b) * (x * torch.exp((1 - b) * s_net(b * x)) + (1 - b) * t_net(b * x))
    return x


def test_the_defaults_search_reports_each_candidate_on_each_data_set_with_misses_counted_at_the_cap():
    candidates = [defaults.Candidate(settings=(("layers", 2), ("hidden", 8))),
                  defaults.Candidate(settings=(("layers", 2), ("hidden", 8)), lr=3e-3, batch=64)]
    rows = defaults.search(candidates, ("moons",), seeds=1, cap_s=0.01, log=lambda line: None)
    assert {r["candidate"] for r in rows} == {c.label() for c in candidates} and len(rows) == 2
    for r in rows:  # 0.01 CPU s cannot reach the target: a miss, counted as the cap
        assert r["missed"] == 1 and r["median_cpu_s"] == 0.01 and r["median_steps"] >= defaults.EVAL_EVERY
    text = defaults.markdown(rows, seeds=1, cap_s=0.01)
    assert text.startswith("## Choosing the defaults") and text.count("| realnvp(") == 2


def test_the_step_profile_counts_operators_and_ours_dispatches_fewer_than_the_plain_realnvp():
    """Operator counts do not depend on timing: ours fuses s and t and uses a fused Adam."""
    from genmodels.bench import profile

    out = profile.profiles("moons", steps=2)
    assert set(out) == {"genmodels", *(p.library for p in peers.available() if p.speed)}
    for p in out.values():
        assert p["ops_per_step"] > 0 and 0 < p["matmul_share"] < 1 and p["most_frequent"]
    assert out["genmodels"]["ops_per_step"] < out["plain-torch"]["ops_per_step"] / 2
