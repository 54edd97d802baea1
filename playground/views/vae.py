"""VAE views: latent scatter with posterior ellipses, decoded latent grid, reconstructions,
interpolation, samples, the estimators' gradient variance, and (2D data) the EM recap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genmodels.data import Dataset
from genmodels.em import GaussianMixtureEM
from genmodels.setup import Setup
from genmodels.train import Snapshot

from .. import figures

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
        st.plotly_chart(variance_figure(v["grad_variance"]), key="vae_variance")
    if not data.is_image:
        with st.expander("EM recap: a Gaussian mixture fitted step by step (the notes' EM slide)"):
            draw_em(data)


def labels(data: Dataset, n: int) -> np.ndarray | None:
    """Class labels of the first n test points (the trainer's probe), where the dataset has them."""
    return None if data.test_labels is None else data.test_labels[:n]


def draw_images(v: dict[str, np.ndarray], data: Dataset) -> None:
    left, right = st.columns(2)
    if "latent_points" in v:
        left.plotly_chart(latent_figure(v, labels(data, len(v["latent_points"]))), key="vae_latent")
    if "latent_grid" in v:
        side = len(v["latent_grid_u"])
        right.plotly_chart(image_figure(tile(v["latent_grid"], side), "decoded latent grid (the plane of the scatter)"),
                           key="vae_grid")
    left, right = st.columns(2)
    if "reconstructions" in v:
        pairs = np.concatenate([v["inputs"], v["reconstructions"]])
        left.plotly_chart(image_figure(tile(pairs, len(v["inputs"])), "test inputs (top), reconstructions (bottom)",
                                       height=figures.HEIGHT // 2), key="vae_recon")
    if "interpolation" in v:
        a, b = v["interpolation_ends"]
        right.plotly_chart(image_figure(tile(v["interpolation"], len(v["interpolation"])),
                                        f"interpolation, linear in z, test image {a} → {b}",
                                        height=figures.HEIGHT // 2), key="vae_interp")
    if "samples" in v:
        st.plotly_chart(image_figure(tile(v["samples"][:30], 15), "samples: decoder means at z ~ p(z)",
                                     height=figures.HEIGHT // 2), key="vae_samples")


def draw_points(v: dict[str, np.ndarray], data: Dataset) -> None:
    left, right = st.columns(2)
    axes = (v["grid_x"], v["grid_y"]) if "grid_x" in v else None
    if "samples" in v:
        left.plotly_chart(figures.samples_vs_data(v["samples"], data.test, axes, "samples x ~ p(x|z) p(z) (red)"),
                          key="vae_samples")
    if "latent_grid" in v:
        right.plotly_chart(mesh_figure(v["latent_grid"], data.test, axes), key="vae_grid")
    left, right = st.columns(2)
    if "latent_points" in v:
        left.plotly_chart(latent_figure(v, None), key="vae_latent")
    if "reconstructions" in v:
        n = len(v["reconstructions"])
        fig = go.Figure([figures.scatter(figures.thin(data.test[:n]), figures.DATA_COLOUR, "test points"),
                         figures.scatter(figures.thin(v["reconstructions"]), figures.MODEL_COLOUR, "E[x|z = mean]")])
        right.plotly_chart(figures.layout(fig, "test points (blue) and their reconstructions (red)"), key="vae_recon")


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """(n, H, W) greyscale images as one picture, `columns` per row, a blank pixel between neighbours."""
    padded = np.pad(images, ((0, 0), (0, 1), (0, 1)))
    return figures.image_grid(padded.reshape(len(images), -1), padded.shape, columns)


def image_figure(image: np.ndarray, title: str, height: int = figures.HEIGHT) -> go.Figure:
    """A greyscale picture in [0, 1], ink dark on white, pixels crisp at any size."""
    fig = go.Figure(go.Heatmap(z=image, colorscale="Greys", zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig = figures.layout(fig, title)
    fig.update_layout(height=height)
    return fig


def latent_figure(v: dict[str, np.ndarray], classes: np.ndarray | None) -> go.Figure:
    """Posterior means of the test points on the latent plane, by class, with 2σ posterior ellipses."""
    points = v["latent_points"]
    traces = []
    if classes is None:
        traces.append(figures.scatter(points, figures.DATA_COLOUR, "test points", size=4))
    else:
        for c in np.unique(classes):
            traces.append(figures.scatter(points[classes == c], PALETTE[int(c) % len(PALETTE)], str(c), size=4))
    for outline in v.get("latent_ellipses", []):
        traces.append(go.Scatter(x=outline[:, 0], y=outline[:, 1], mode="lines", line=dict(color="black", width=1),
                                 hoverinfo="skip", showlegend=False))
    fig = figures.layout(go.Figure(traces), "latent means of test points, 2σ posterior ellipses")
    fig.update_layout(showlegend=classes is not None)
    return fig


def mesh_figure(grid: np.ndarray, data: np.ndarray, axes) -> go.Figure:
    """Decoded means of a latent grid drawn as a mesh over the data: rows and columns of the grid as lines."""
    lines = [*grid, *grid.transpose(1, 0, 2)]
    traces = [figures.scatter(figures.thin(data, 500), figures.DATA_COLOUR, "data", size=2, opacity=0.3)]
    traces += [go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines", line=dict(color=figures.MODEL_COLOUR, width=1),
                          hoverinfo="skip") for line in lines]
    fig = go.Figure(traces)
    if axes is not None:
        fig.update_xaxes(range=[axes[0][0], axes[0][-1]])
        fig.update_yaxes(range=[axes[1][0], axes[1][-1]])
    return figures.layout(fig, "decoded latent grid E[x|z] over the data")


def variance_figure(rows: np.ndarray) -> go.Figure:
    """Mean per-parameter variance of ∇_φ ELBO over z draws, one line per estimator, log scale."""
    names = ["total derivative (MC KL)", "path derivative (MC KL)", "closed-form KL"]
    traces = [go.Scatter(x=rows[:, 0], y=rows[:, i + 1], mode="lines+markers", name=name)
              for i, name in enumerate(names) if np.isfinite(rows[:, i + 1]).any()]
    fig = figures.layout(go.Figure(traces), "gradient variance w.r.t. the encoder, same minibatch", square=False)
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.2))
    fig.update_xaxes(title="step")
    fig.update_yaxes(type="log", title="variance")
    return fig


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
    s = em.state()
    it, is_m, ll, elbo = s["history"][-1]
    last = "initial" if len(s["history"]) == 1 else ("M-step" if is_m else "E-step")
    st.markdown(f"round {int(it)}, after the **{last}**: mean log-likelihood **{ll:.6f}**, "
                f"ELBO **{elbo:.6f}**, gap KL(q ‖ p(z|x)) = {ll - elbo:.2e} nats")
    left, right = st.columns(2)
    left.plotly_chart(em_figure(em.x, s), key="em_mixture")
    right.plotly_chart(em_history_figure(s["history"]), key="em_history")


def em_figure(x: np.ndarray, s: dict[str, np.ndarray]) -> go.Figure:
    """Points coloured by their most responsible component; 2σ ellipses of the components."""
    owner = s["responsibilities"].argmax(1)
    traces = [figures.scatter(x[owner == j], PALETTE[j % len(PALETTE)], f"component {j}", size=3)
              for j in range(len(s["weights"]))]
    traces += [go.Scatter(x=e[:, 0], y=e[:, 1], mode="lines", line=dict(color="black", width=1.5), hoverinfo="skip")
               for e in s["ellipses"]]
    return figures.layout(go.Figure(traces), "responsibilities (colour) and components (2σ)")


def em_history_figure(history: np.ndarray) -> go.Figure:
    step = np.arange(len(history))
    fig = go.Figure([
        go.Scatter(x=step, y=history[:, 2], mode="lines+markers", name="log-likelihood"),
        go.Scatter(x=step, y=history[:, 3], mode="lines+markers", name="ELBO L(θ, q)"),
    ])
    fig = figures.layout(fig, "after each half step (E: equal, M: gap opens)", square=False)
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.2))
    fig.update_xaxes(title="half step")
    return fig
