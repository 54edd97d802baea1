"""The sidebar's settings mean what they say: an upload trains, and no setting shows that does nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genmodels.errors import UserError
from genmodels.setup import Setup

APP = str(Path(__file__).resolve().parents[1] / "playground" / "app.py")


def upload_twice(file_ids: tuple[str, str]):
    """A script: the same upload widget value on two reruns (Streamlit keeps it across reruns)."""
    import numpy as np
    import streamlit as st

    from genmodels.setup import Setup
    from playground import byod
    from playground.session import run_for

    class Upload:  # what st.file_uploader returns: an id per upload, the bytes and the name
        def __init__(self, file_id):
            self.file_id, self.name = file_id, "points.csv"

        def getvalue(self):
            return "\n".join(f"{x},{-x}" for x in np.linspace(-1, 1, 50)).encode()

    setup = Setup(data="csv")
    runs = []
    for file_id in file_ids:
        byod.use_upload(Upload(file_id), max_rows=1000)
        runs.append(run_for(setup, st.session_state[byod.CSV_DATA]))
    st.session_state.same_run = runs[0] is runs[1]
    runs[1].trainer.close()


@pytest.mark.parametrize(("file_ids", "same"), [(("a", "a"), True), (("a", "b"), False)])
def test_an_upload_is_read_once_so_its_run_survives_the_rerun(file_ids, same):
    """Re-reading the upload on every rerun made a new Dataset each time, so the run was replaced
    before it could train: Train never trained. A new upload is a new run."""
    at = AppTest.from_function(upload_twice, args=(file_ids,), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.session_state.same_run is same


def labels(at: AppTest) -> set[str]:
    return {w.label for w in [*at.select_slider, *at.number_input, *at.text_input, *at.checkbox]}


def test_the_training_lr_shows_only_for_models_that_use_it():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert "lr" in labels(at)
    at.selectbox(key="model").set_value("gan").run()
    assert not at.exception
    assert "lr" not in labels(at) and {"lr g", "lr d"} <= labels(at)
    at.session_state["run"].trainer.close()


def test_a_gan_refuses_the_training_lr_instead_of_ignoring_it():
    with pytest.raises(UserError, match="lr_g, lr_d"):
        Setup.from_query({"model": "gan", "lr": "0.01"})
    assert Setup.from_query({"model": "gan", "lr_g": "0.001"}).model_config.lr_g == 0.001


def test_a_closed_run_is_replaced_with_a_word_not_silently():
    """A run closed while its tab slept (the drop timeout) comes back as a fresh run: the page says so."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.session_state["run"].trainer.close()
    at.run()
    assert any("this run was closed" in i.value and "fresh run of the same setup" in i.value for i in at.info)
    assert at.session_state["run"].trainer.closed is False
    at.session_state["run"].trainer.close()
