"""The families table of the benchmark: one run per family scored by the same metrics, the data's floor, the
means over seeds and the section of BENCHMARKS.md. Tiny budgets: no quality claim here."""

from __future__ import annotations

import numpy as np
import pytest

from genmodels.bench import families
from genmodels.evaluation.metrics import sliced_wasserstein

TINY = families.FamilyBudget(steps=20, seeds=(0,), data=("8gaussians",),
                             models=("realnvp", "vae", "nsgan", "ddpm", "ebm"), mode_every=10, workers=1)


@pytest.fixture(scope="module")
def records():
    return families.run_family_benchmarks(TINY, log=lambda line: None)


def by_model(records):
    return {r["model"]: r for r in records}


def test_every_model_is_trained_for_its_steps_and_scored(records):
    runs = by_model(records)
    assert set(runs) == {*TINY.models, "data"}
    assert runs["ebm"]["steps"] == 2 and all(runs[m]["steps"] == 20 for m in ("realnvp", "vae", "nsgan", "ddpm"))
    for r in records:
        assert r["status"] == "done" and r["swd"] > 0 and r["entropy"] == pytest.approx(2.8313, abs=1e-3)
    assert runs["realnvp"]["total"] == 8 and 0 <= runs["realnvp"]["modes"] <= 8  # numbers, not "k/8"


def test_each_family_reports_the_likelihood_it_has(records):
    runs = by_model(records)
    assert [runs[m]["nll_kind"] for m in ("realnvp", "ddpm", "vae", "nsgan", "ebm")] == [
        "exact", "PF-ODE", "IWAE bound", None, None]
    assert all(np.isfinite(runs[m]["nll"]) for m in ("realnvp", "ddpm", "vae"))
    assert runs["nsgan"]["nll"] is None and runs["ebm"]["nll"] is None
    assert runs["data"]["nll"] == runs["data"]["entropy"]


def test_a_cpu_budget_stops_each_run_at_the_first_block_past_it():
    """A budget of a nanosecond is spent by any block of steps: every model trains one block, whatever its speed."""
    record = families.train_family("realnvp", "8gaussians", 0, steps=10_000, cpu_seconds=1e-9, mode_every=100)
    assert record["status"] == "done" and record["steps"] == families.BLOCK and record["train_s"] > 0
    assert "each model at its defaults, 45 CPU seconds of training each, then" in "\n".join(
        families.markdown_section([record], families.FULL))


def test_only_the_diffusion_models_are_timed_to_all_modes(records):
    runs = by_model(records)
    assert all(runs[m]["all_modes_s"] is None for m in ("realnvp", "vae", "nsgan", "ebm"))
    seconds = runs["ddpm"]["all_modes_s"]
    assert seconds is None or 0 < seconds <= runs["ddpm"]["train_s"]


def test_the_data_floor_is_the_swd_of_training_points_and_beats_a_shifted_copy():
    floor = families.data_floor("8gaussians", 0)
    from genmodels.data import load_dataset

    data = load_dataset("8gaussians", 0)
    shifted = sliced_wasserstein(data.test.astype(np.float64), data.train[:2500].astype(np.float64) + 1.0)
    assert 0 < floor["swd"] < shifted / 5  # a shift by (1, 1): E|θ·s| = 2√2/π ≈ 0.9


def test_summary_means_over_seeds_and_keeps_missing_values_missing(records):
    twice = records + [{**r, "seed": 1, "swd": 2 * r["swd"],
                        "all_modes_s": None if r["all_modes_s"] is None else 0.0} for r in records]
    rows = {s["model"]: s for s in families.summary(twice)}
    for r in records:
        assert rows[r["model"]]["seeds"] == 2 and rows[r["model"]]["swd"] == pytest.approx(1.5 * r["swd"])
    assert rows["nsgan"]["nll"] is None and rows["realnvp"]["total"] == 8


def test_the_section_compares_every_swd_with_the_best_flows(records, tmp_path):
    rows = families.summary(records)
    best = min(s["swd"] for s in rows if s["model"] == "realnvp")
    text = "\n".join(families.markdown_section(records, TINY))
    vae = next(s for s in rows if s["model"] == "vae")
    assert "| 8gaussians | vae | 1 | 20 |" in text and f"| {vae['swd'] / best:.2f} |" in text
    md = tmp_path / "B.md"
    md.write_text("# Benchmarks\n\n## Every family on the same data (old)\n\nold\n\n## Later\n\nkept\n")
    families.write_section(md, families.markdown_section(records, TINY))
    assert "old\n" not in md.read_text() and "kept" in md.read_text() and "| realnvp |" in md.read_text()


def test_cli_bench_families_writes_only_the_families_section(bench_one_table, records):
    assert "| 8gaussians | ddpm |" in bench_one_table(families, "run_family_benchmarks", "--families", records)
