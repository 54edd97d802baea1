"""VAE views: latent scatter with posterior ellipses, decoded latent grid, reconstructions,
interpolation, samples, the estimators' gradient variance, and (2D data) the EM recap."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import Dataset
from genmodels.lecture.em import GaussianMixtureEM
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import figures, memo
from ..memo import Picture
from ..pictures import vae as pictures
from ..pictures.vae import PALETTE

EM_POINTS = 2000


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    if not v:
        return
    if data.is_image:
        draw_images(v, data, snap.visuals_step)
    else:
        draw_points(v, data, snap.visuals_step)
    if "grad_variance" in v:
        st.vega_lite_chart(variance_chart(v["grad_variance"]), key="vae_variance")


def draw_beside(data: Dataset) -> None:
    """Below the live panel, drawn once per page run (it changes only when its buttons are pressed): the EM recap."""
    if not data.is_image:
        with st.expander("EM recap: a Gaussian mixture fitted step by step (the notes' EM slide)"):
            draw_em(data)


def draw_images(v: dict[str, np.ndarray], data: Dataset, step: int) -> None:
    """Latent scatter (by class) beside the decoded grid; reconstructions beside an interpolation; samples."""
    made = pictures.builders(v, data)
    memo.row(st, v, [shown(made, "vae_latent", "latent means of test points (by class where labelled), 2σ "
                           "posterior ellipses"),
                     shown(made, "vae_grid", "decoded latent grid (the plane of the scatter)")], step)
    if "latent_points" in v and data.test_labels is not None:
        st.caption(class_legend(data.test_labels), unsafe_allow_html=True)
    ends = " → ".join(map(str, v.get("interpolation_ends", ())))
    memo.row(st, v, [shown(made, "vae_recon", "test inputs (top), reconstructions (bottom)"),
                     shown(made, "vae_interp", f"interpolation, linear in z, test image {ends}")], step)
    if "vae_samples" in made:
        memo.image(st, "vae_samples", v, made["vae_samples"],
                   figures.first_step_note(step, "samples: decoder means at z ~ p(z)", "the untrained decoder's blur"),
                   step=step)


def shown(made: dict[str, Callable[[], bytes]], name: str, caption: str) -> Picture | None:
    """The picture `name` where the visuals have its arrays (`pictures.builders`), else an empty cell."""
    return Picture(name, made[name], caption) if name in made else None


def class_legend(classes: np.ndarray) -> str:
    """The latent scatter's colours, one swatch per class."""
    return " ".join(f"<span style='color:{PALETTE[int(c) % len(PALETTE)]}'>■ {c}</span>" for c in np.unique(classes))


def draw_points(v: dict[str, np.ndarray], data: Dataset, step: int) -> None:
    """Samples beside the decoded grid as a mesh over the data; latent means beside reconstructions."""
    made = pictures.builders(v, data)
    memo.row(st, v, [shown(made, "vae_samples", "samples x ~ p(x|z) p(z) (red) vs data (blue)"),
                     shown(made, "vae_grid", "decoded latent grid E[x|z] over the data")], step)
    memo.row(st, v, [shown(made, "vae_latent", "latent means of test points, 2σ posterior ellipses"),
                     shown(made, "vae_recon", "test points (blue) and their reconstructions (red)")], step)


def variance_chart(rows: np.ndarray) -> dict:
    """Mean per-parameter variance of ∇_φ ELBO over z draws, one line per estimator, log scale."""
    names = ["total derivative (MC KL)", "path derivative (MC KL)", "closed-form KL"]
    series = {name: rows[np.isfinite(rows[:, i + 1])][:, [0, i + 1]] for i, name in enumerate(names)}
    return figures.compared_chart(series, "gradient variance w.r.t. the encoder, same minibatch", log=True)


def draw_em(data: Dataset) -> None:
    """Step EM by hand; the log-likelihood and the ELBO after each half step show ELBO = log-lik after E."""
    cols = st.columns(4)
    k = cols[0].number_input("components K", 1, 25, 8, key="em_k")
    key = (data.name, len(data.train), k)
    if st.session_state.get("em_key") != key or cols[3].button("restart", key="em_restart"):
        st.session_state.em, st.session_state.em_key = GaussianMixtureEM(data.train[:EM_POINTS], k), key
    em: GaussianMixtureEM = st.session_state.em
    if cols[1].button(f"{em.next_step}-step", key="em_step", type="primary"):
        em.step()
    if cols[2].button("10 rounds (E+M)", key="em_rounds"):
        for _ in range(20):
            em.step()
    it, name, ll, elbo = em.history[-1]
    last = {"init": "initial", "E": "E-step", "M": "M-step"}[name]
    st.markdown(f"round {int(it)}, after the **{last}**: mean log-likelihood **{ll:.6f}**, "
                f"ELBO **{elbo:.6f}**, gap KL(q ‖ p(z|x)) = {ll - elbo:.2e} nats")
    left, right = st.columns(2)  # the figures change only with a step: one entry per (EM run, half steps done)
    memo.image(left, "em_mixture", em, lambda: pictures.em_picture(em.x, em.state()),
               "responsibilities (colour) and components (2σ)", len(em.history))
    memo.plotly_chart(right, "em_history", em, lambda: em_history_figure(em.state()["history"]), len(em.history))


def em_history_figure(history: np.ndarray) -> go.Figure:
    step = np.arange(len(history))
    return figures.figure([
        go.Scatter(x=step, y=history[:, 2], mode="lines+markers", name="log-likelihood"),
        go.Scatter(x=step, y=history[:, 3], mode="lines+markers", name="ELBO L(θ, q)"),
    ], "after each half step (E: equal, M: gap opens)", square=False, showlegend=True,
        legend=dict(orientation="h", y=-0.2), xaxis=dict(title="half step"))
