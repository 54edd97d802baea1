"""The GAN table of the benchmark: budgets kept, every objective and ablation measured, the section of
BENCHMARKS.md written beside the anchors and replaced in place. Tiny budgets: no quality claim here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.bench import gans
from genmodels.data import load_dataset
from genmodels.models import MODELS

TINY = gans.GANBudget(seeds=(0,), steps=3, cpu_seconds=0.05, data=("ring8",), ablations=True, workers=1)
SMALL = (("g_hidden", "8"), ("d_hidden", "8"))


@pytest.fixture(scope="module")
def records():
    return gans.run_gan_benchmarks(TINY, log=lambda line: None)


def test_every_objective_and_ablation_is_measured_at_both_budgets(records):
    labels = [c.label for c in gans.contenders(True)]
    assert set(labels) >= {name for name, cls in MODELS.items() if cls.family == "gan"}
    assert sorted((r["label"], r["budget"]) for r in records) == sorted(
        (label, budget) for label in labels for budget in ("steps", "cpu_seconds"))
    for r in records:
        assert r["total"] == 8 and 0 <= r["modes"] <= 8 and 0 <= r["high_quality"] <= 1 and r["reverse_kl"] >= 0
        assert r["steps"] == 3 if r["budget"] == "steps" else r["steps"] >= 1


def test_the_cpu_budget_stops_a_run_within_a_block_of_it():
    r = gans.train_gan(gans.Contender("small", "nsgan", SMALL), "ring8", 0, cpu_seconds=0.5)
    assert r["cpu_s"] >= 0.5 and r["steps"] % gans.BLOCK == 0
    assert r["cpu_s"] < 0.5 + 1.5 * gans.BLOCK / r["rounds_per_cpu_s"] + 1.0  # the last block, building the model


def test_score_counts_modes_and_sharpness_of_the_model_samples():
    """A generator collapsed onto one centre: 1 of 8 modes, all samples high quality, large reverse KL."""
    data = load_dataset("ring8")
    model = MODELS["nsgan"](MODELS["nsgan"].Config(g_hidden=8, d_hidden=8, ema=0.0), 2)
    last = model.generator[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.as_tensor(data.mixture.centres[5]))
    s = gans.score(model, data)
    assert (s["modes"], s["total"], s["high_quality"]) == (1, 8, 1.0)
    assert s["reverse_kl"] == pytest.approx(np.log(8), rel=0.2)  # KL(one mode's histogram ‖ eight modes')


def test_summary_means_over_seeds_and_markdown_has_the_anchors(records):
    twice = records + [{**r, "seed": 1, "modes": 0} for r in records]
    rows = gans.summary(twice)
    assert len(rows) == len(records) and all(s["seeds"] == 2 for s in rows)
    by_key = {(r["label"], r["budget"]): r["modes"] for r in records}
    assert all(s["modes"] == pytest.approx(by_key[s["label"], s["budget"]] / 2) and s["min_modes"] == 0 for s in rows)
    text = "\n".join(gans.markdown_section(twice, TINY))
    assert "PacGAN4 (same table) | 7.8 / 95.9 | 24.8 / 93.6" in text
    assert sum(line.startswith("| nsgan, pack 1 |") for line in text.splitlines()) == 2


def test_write_section_replaces_the_gan_section_and_keeps_the_rest(tmp_path):
    md = tmp_path / "B.md"
    md.write_text("# Benchmarks\n\n## Training speed\n\nfast\n\n## GANs: old\n\nold rows\n\n## Later\n\nkept\n")
    gans.write_section(md, ["## GANs: new", "", "new rows"])
    text = md.read_text()
    assert "old rows" not in text and "new rows" in text and text.index("fast") < text.index("new rows")
    assert text.index("new rows") < text.index("kept")
    gans.write_section(tmp_path / "fresh.md", ["## GANs: x"])
    assert (tmp_path / "fresh.md").read_text().startswith("# Benchmarks")


def test_cli_bench_gans_writes_only_the_gan_section(bench_one_table, records):
    """`bench --gans` runs the GAN table alone (here: the fixture's records) and keeps the other sections."""
    text = bench_one_table(gans, "run_gan_benchmarks", "--gans", records)
    assert f"| nsgan | ring8 | {gans.QUICK.steps} steps |" in text
