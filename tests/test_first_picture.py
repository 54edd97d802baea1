"""The time-to-first-picture measurement of the presets: its checks decide on the pictures, and a run is timed."""

import numpy as np

from genmodels.data import load_dataset
from genmodels.lecture import first_picture
from genmodels.lecture.presets import load_presets, parse_preset
from genmodels.training.snapshot import Snapshot

TINY = """
title = "tiny"
explanation = "a flow of one small layer"
equation = "x"
data = "moons"
[[runs]]
label = "one layer"
model = "realnvp"
settings = { layers = 1, hidden = 8, steps = 40, seed = 0 }
"""


def test_every_own_check_names_a_run_of_its_preset():
    presets = load_presets()[0]
    for name, checks in first_picture.MEANINGFUL.items():
        assert set(checks) <= {r.label for r in presets[name].runs}, name


def test_mode_check_counts_the_modes_the_samples_cover():
    data = load_dataset("ring8", 0)
    centres = data.mixture.centres
    everywhere = np.repeat(centres, 50, axis=0)
    collapsed = np.repeat(centres[:1], 400, axis=0)
    covers_six = first_picture.modes_at_least(6, 0.5)
    assert covers_six(Snapshot(visuals={"samples": everywhere}, visuals_step=5), data)
    assert not covers_six(Snapshot(visuals={"samples": collapsed}, visuals_step=5), data)
    assert first_picture.modes_at_least(1, 0.5)(Snapshot(visuals={"samples": collapsed}, visuals_step=5), data)
    assert not covers_six(Snapshot(), data)  # no samples yet


def test_loss_check_reads_the_last_logged_loss_of_a_trained_step():
    history = {"loss": np.array([[1, 300.0], [2, 160.0]])}
    below = first_picture.loss_below(165.0)
    assert below(Snapshot(history=history, visuals_step=2), None)
    assert not below(Snapshot(history={"loss": history["loss"][:1]}, visuals_step=1), None)
    assert not below(Snapshot(history=history, visuals_step=0), None)  # the pictures are still of step 0


def test_a_preset_without_its_own_check_is_timed_to_its_first_trained_picture():
    [timing] = first_picture.time_preset(parse_preset("tiny", TINY), timeout=60)
    assert timing.check == "first trained picture" and timing.run == "one layer"
    assert timing.seconds is not None and timing.seconds > 0 and timing.step > 0
