"""VAE views: latent scatter with posterior ellipses, decoded latent grid, reconstructions,
interpolation, samples, the estimators' gradient variance, and (2D data) the EM recap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import Dataset
from genmodels.hosting.trainer import Snapshot
from genmodels.lecture.em import GaussianMixtureEM
from genmodels.setup import Setup
from playground import figures, memo

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
EM_POINTS = 2000


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    if not v:
        return
    if data.is_image:
        draw_images(v, data)
    else:
        draw_points(v, data)
    if "grad_variance" in v:
        memo.plotly_chart(st, "vae_variance", v, lambda: variance_figure(v["grad_variance"]))
    if not data.is_image:
        with st.expander("EM recap: a Gaussian mixture fitted step by step (the notes' EM slide)"):
            draw_em(data)


def labels(data: Dataset, n: int) -> np.ndarray | None:
    """Class labels of the first n test points (the trainer's probe), where the dataset has them."""
    return None if data.test_labels is None else data.test_labels[:n]


def draw_images(v: dict[str, np.ndarray], data: Dataset) -> None:
    left, right = st.columns(2)
    if "latent_points" in v:
        memo.plotly_chart(left, "vae_latent", v, lambda: latent_figure(v, labels(data, len(v["latent_points"]))))
    if "latent_grid" in v:
        memo.plotly_chart(right, "vae_grid", v, lambda: image_figure(
            tile(v["latent_grid"], len(v["latent_grid_u"])), "decoded latent grid (the plane of the scatter)"))
    left, right = st.columns(2)
    if "reconstructions" in v:
        memo.plotly_chart(left, "vae_recon", v, lambda: image_figure(
            tile(np.concatenate([v["inputs"], v["reconstructions"]]), len(v["inputs"])),
            "test inputs (top), reconstructions (bottom)", height=figures.HEIGHT // 2))
    if "interpolation" in v:
        a, b = v["interpolation_ends"]
        memo.plotly_chart(right, "vae_interp", v, lambda: image_figure(
            tile(v["interpolation"], len(v["interpolation"])), f"interpolation, linear in z, test image {a} → {b}",
            height=figures.HEIGHT // 2))
    if "samples" in v:
        memo.plotly_chart(st, "vae_samples", v, lambda: image_figure(
            tile(v["samples"][:30], 15), "samples: decoder means at z ~ p(z)", height=figures.HEIGHT // 2))


def draw_points(v: dict[str, np.ndarray], data: Dataset) -> None:
    left, right = st.columns(2)
    axes = (v["grid_x"], v["grid_y"]) if "grid_x" in v else None
    if "samples" in v:
        memo.plotly_chart(left, "vae_samples", v, lambda: figures.samples_vs_data(
            v["samples"], data.test, axes, "samples x ~ p(x|z) p(z) (red)"))
    if "latent_grid" in v:
        memo.plotly_chart(right, "vae_grid", v, lambda: mesh_figure(v["latent_grid"], data.test, axes))
    left, right = st.columns(2)
    if "latent_points" in v:
        memo.plotly_chart(left, "vae_latent", v, lambda: latent_figure(v, None))
    if "reconstructions" in v:
        memo.plotly_chart(right, "vae_recon", v, lambda: reconstruction_figure(v["reconstructions"], data.test))


def reconstruction_figure(x_hat: np.ndarray, x: np.ndarray) -> go.Figure:
    return figures.figure([figures.scatter(figures.thin(x[:len(x_hat)]), figures.DATA_COLOUR, "test points"),
                           figures.scatter(figures.thin(x_hat), figures.MODEL_COLOUR, "E[x|z = mean]")],
                          "test points (blue) and their reconstructions (red)")


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """(n, H, W) greyscale images as one picture, `columns` per row, a blank pixel between neighbours."""
    padded = np.pad(images, ((0, 0), (0, 1), (0, 1)))
    return figures.image_grid(padded.reshape(len(images), -1), padded.shape, columns)


def image_figure(image: np.ndarray, title: str, height: int = figures.HEIGHT) -> go.Figure:
    """A greyscale picture in [0, 1], ink dark on white, pixels crisp at any size."""
    return figures.figure([go.Heatmap(z=image, colorscale="Greys", zmin=0, zmax=1, showscale=False, hoverinfo="skip")],
                          title, xaxis=dict(visible=False), yaxis=dict(visible=False, autorange="reversed"),
                          height=height)


def latent_figure(v: dict[str, np.ndarray], classes: np.ndarray | None) -> go.Figure:
    """Posterior means of the test points on the latent plane, by class, with 2σ posterior ellipses."""
    points = v["latent_points"]
    traces = []
    if classes is None:
        traces.append(figures.scatter(points, figures.DATA_COLOUR, "test points", size=4))
    else:
        for c in np.unique(classes):
            traces.append(figures.scatter(points[classes == c], PALETTE[int(c) % len(PALETTE)], str(c), size=4))
    if "latent_ellipses" in v:
        traces.append(figures.lines(v["latent_ellipses"], "black", 1))
    return figures.figure(traces, "latent means of test points, 2σ posterior ellipses", showlegend=classes is not None)


def mesh_figure(grid: np.ndarray, data: np.ndarray, axes) -> go.Figure:
    """Decoded means of a latent grid drawn as a mesh over the data: rows and columns of the grid as lines."""
    traces = [figures.scatter(figures.thin(data, 500), figures.DATA_COLOUR, "data", size=2, opacity=0.3),
              figures.lines([*grid, *grid.transpose(1, 0, 2)], figures.MODEL_COLOUR, 1)]
    return figures.figure(traces, "decoded latent grid E[x|z] over the data", axes=axes)


def variance_figure(rows: np.ndarray) -> go.Figure:
    """Mean per-parameter variance of ∇_φ ELBO over z draws, one line per estimator, log scale."""
    names = ["total derivative (MC KL)", "path derivative (MC KL)", "closed-form KL"]
    traces = [go.Scatter(x=rows[:, 0], y=rows[:, i + 1], mode="lines+markers", name=name)
              for i, name in enumerate(names) if np.isfinite(rows[:, i + 1]).any()]
    return figures.figure(traces, "gradient variance w.r.t. the encoder, same minibatch", square=False,
                          showlegend=True, legend=dict(orientation="h", y=-0.2), xaxis=dict(title="step"),
                          yaxis=dict(type="log", title="variance"))


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
    memo.plotly_chart(left, "em_mixture", em, lambda: em_figure(em.x, em.state()), len(em.history))
    memo.plotly_chart(right, "em_history", em, lambda: em_history_figure(em.state()["history"]), len(em.history))


def em_figure(x: np.ndarray, s: dict[str, np.ndarray]) -> go.Figure:
    """Points coloured by their most responsible component; 2σ ellipses of the components."""
    owner = s["responsibilities"].argmax(1)
    traces = [figures.scatter(x[owner == j], PALETTE[j % len(PALETTE)], f"component {j}", size=3)
              for j in range(len(s["weights"]))]
    traces.append(figures.lines(s["ellipses"], "black", 1.5))
    return figures.figure(traces, "responsibilities (colour) and components (2σ)")


def em_history_figure(history: np.ndarray) -> go.Figure:
    step = np.arange(len(history))
    return figures.figure([
        go.Scatter(x=step, y=history[:, 2], mode="lines+markers", name="log-likelihood"),
        go.Scatter(x=step, y=history[:, 3], mode="lines+markers", name="ELBO L(θ, q)"),
    ], "after each half step (E: equal, M: gap opens)", square=False, showlegend=True,
        legend=dict(orientation="h", y=-0.2), xaxis=dict(title="half step"))
