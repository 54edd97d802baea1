"""VAE views: latent scatter with posterior ellipses, decoded latent grid, reconstructions,
interpolation, samples, the estimators' gradient variance, and (2D data) the EM recap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import Dataset
from genmodels.lecture.em import GaussianMixtureEM
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import figures, memo
from ..memo import Picture
from ..pictures import common
from ..pictures.raster import Plane

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
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


def labels(data: Dataset, n: int) -> np.ndarray | None:
    """Class labels of the first n test points (the trainer's probe), where the dataset has them."""
    return None if data.test_labels is None else data.test_labels[:n]


def draw_images(v: dict[str, np.ndarray], data: Dataset, step: int) -> None:
    """Latent scatter (by class) beside the decoded grid; reconstructions beside an interpolation; samples."""
    memo.row(st, v, [
        Picture("vae_latent", lambda: latent_picture(v, labels(data, len(v["latent_points"]))).png(),
                "latent means of test points (by class where labelled), 2σ posterior ellipses")
        if "latent_points" in v else None,
        Picture("vae_grid", lambda: common.grey_tiles(v["latent_grid"], data.shape, len(v["latent_grid_u"])),
                "decoded latent grid (the plane of the scatter)") if "latent_grid" in v else None], step)
    if "latent_points" in v and data.test_labels is not None:
        st.caption(class_legend(data.test_labels), unsafe_allow_html=True)
    interpolation = None
    if "interpolation" in v:
        a, b = v["interpolation_ends"]
        interpolation = Picture("vae_interp", lambda: common.grey_tiles(v["interpolation"], data.shape,
                                                                         len(v["interpolation"])),
                                f"interpolation, linear in z, test image {a} → {b}")
    memo.row(st, v, [
        Picture("vae_recon", lambda: common.grey_tiles(np.concatenate([v["inputs"], v["reconstructions"]]),
                                                        data.shape, len(v["inputs"])),
                "test inputs (top), reconstructions (bottom)") if "reconstructions" in v else None,
        interpolation], step)
    if "samples" in v:
        memo.image(st, "vae_samples", v, lambda: common.grey_tiles(v["samples"][:30], data.shape, 15),
                   figures.first_step_note(step, "samples: decoder means at z ~ p(z)", "the untrained decoder's blur"),
                   step=step)


def class_legend(classes: np.ndarray) -> str:
    """The latent scatter's colours, one swatch per class."""
    return " ".join(f"<span style='color:{PALETTE[int(c) % len(PALETTE)]}'>■ {c}</span>" for c in np.unique(classes))


def draw_points(v: dict[str, np.ndarray], data: Dataset, step: int) -> None:
    """Samples beside the decoded grid as a mesh over the data; latent means beside reconstructions."""
    memo.row(st, v, [
        Picture("vae_samples", lambda: common.samples_vs_data(v["samples"], data.test, v).png(),
                "samples x ~ p(x|z) p(z) (red) vs data (blue)") if "samples" in v and "grid_x" in v else None,
        Picture("vae_grid", lambda: mesh_picture(v["latent_grid"], data.test, v).png(),
                "decoded latent grid E[x|z] over the data") if "latent_grid" in v else None], step)
    memo.row(st, v, [
        Picture("vae_latent", lambda: latent_picture(v, None).png(), "latent means of test points, 2σ posterior "
                "ellipses") if "latent_points" in v else None,
        Picture("vae_recon", lambda: reconstruction_picture(v["reconstructions"], data.test, v).png(),
                "test points (blue) and their reconstructions (red)") if "reconstructions" in v else None], step)


def reconstruction_picture(x_hat: np.ndarray, x: np.ndarray, v) -> Plane:
    return common.samples_vs_data(x_hat, x[:len(x_hat)], v)


def latent_picture(v: dict[str, np.ndarray], classes: np.ndarray | None) -> Plane:
    """Posterior means of the test points on the latent plane (the decoded grid's box), by class, 2σ ellipses."""
    points = v["latent_points"]
    out = Plane.of(v["latent_grid_u"], v["latent_grid_v"]) if "latent_grid_u" in v else common.box_plane(points)
    if classes is None:
        out.points(points, common.DATA_COLOUR, 1)
    else:
        for c in np.unique(classes):
            out.points(points[classes == c], PALETTE[int(c) % len(PALETTE)], 1)
    if "latent_ellipses" in v:
        out.lines(v["latent_ellipses"], "#000000")
    return out


def mesh_picture(grid: np.ndarray, data: np.ndarray, v) -> Plane:
    """Decoded means of a latent grid drawn as a mesh over the data: rows and columns of the grid as lines."""
    out = common.plane(v).points(common.thin(data, 500), "#9ecae1", 1)
    return out.lines([*grid, *grid.transpose(1, 0, 2)], common.MODEL_COLOUR)


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
    memo.image(left, "em_mixture", em, lambda: em_picture(em.x, em.state()),
               "responsibilities (colour) and components (2σ)", len(em.history))
    memo.plotly_chart(right, "em_history", em, lambda: em_history_figure(em.state()["history"]), len(em.history))


def em_picture(x: np.ndarray, s: dict[str, np.ndarray]) -> bytes:
    """Points coloured by their most responsible component; 2σ ellipses of the components."""
    owner = s["responsibilities"].argmax(1)
    out = common.box_plane(x)
    for j in range(len(s["weights"])):
        out.points(x[owner == j], PALETTE[j % len(PALETTE)], 1)
    return out.lines(s["ellipses"], "#000000", 2).png()


def em_history_figure(history: np.ndarray) -> go.Figure:
    step = np.arange(len(history))
    return figures.figure([
        go.Scatter(x=step, y=history[:, 2], mode="lines+markers", name="log-likelihood"),
        go.Scatter(x=step, y=history[:, 3], mode="lines+markers", name="ELBO L(θ, q)"),
    ], "after each half step (E: equal, M: gap opens)", square=False, showlegend=True,
        legend=dict(orientation="h", y=-0.2), xaxis=dict(title="half step"))
