"""Plotly/Altair figures shared by the family views. Fixed sizes and uirevision: no flicker."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

HEIGHT = 360
IMAGE_WIDTH = 320  # pixels of an enlarged image grid
DATA_COLOUR, MODEL_COLOUR = "#1f77b4", "#d62728"


def layout(fig: go.Figure, title: str, square: bool = True) -> go.Figure:
    fig.update_layout(
        title=title, height=HEIGHT, margin=dict(l=10, r=10, t=40, b=10), uirevision="keep",
        showlegend=False, plot_bgcolor="white",
    )
    if square:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def thin(points: np.ndarray, n: int = 1000) -> np.ndarray:
    """At most n rows, evenly spaced (drawing 50k points per tick would be slow)."""
    return points[:: max(1, len(points) // n)]


def scatter(x: np.ndarray, colour: str, name: str, size: int = 3, opacity: float = 0.6) -> go.Scattergl:
    return go.Scattergl(x=x[:, 0], y=x[:, 1], mode="markers", name=name,
                        marker=dict(size=size, color=colour, opacity=opacity))


def heatmap(values: np.ndarray, gx: np.ndarray, gy: np.ndarray, title: str, overlay: np.ndarray | None = None,
            colorscale: str = "Viridis", zmin=None, zmax=None) -> go.Figure:
    """values: (G*G,) over the grid with axes gx, gy; optional data points on top."""
    fig = go.Figure(go.Heatmap(x=gx, y=gy, z=values.reshape(len(gy), len(gx)), colorscale=colorscale,
                               zmin=zmin, zmax=zmax, showscale=False))
    if overlay is not None:
        fig.add_trace(scatter(thin(overlay, 500), "white", "data", size=2, opacity=0.5))
    fig.update_xaxes(range=[gx[0], gx[-1]])
    fig.update_yaxes(range=[gy[0], gy[-1]])
    return layout(fig, title)


def samples_vs_data(samples: np.ndarray, data: np.ndarray, axes: tuple[np.ndarray, np.ndarray] | None = None,
                    title: str = "samples (red) vs data (blue)") -> go.Figure:
    """Both point sets; with `axes` (the density grid's ticks) the view stays fixed while samples move."""
    fig = go.Figure([scatter(thin(data), DATA_COLOUR, "data"), scatter(thin(samples), MODEL_COLOUR, "model")])
    if axes is not None:
        fig.update_xaxes(range=[axes[0][0], axes[0][-1]])
        fig.update_yaxes(range=[axes[1][0], axes[1][-1]])
    return layout(fig, title)


def image_grid(images: np.ndarray, shape: tuple[int, ...], columns: int = 10) -> np.ndarray:
    """Tile (n, D) images in [0, 1] of shape (1, H, W) into one (rows*H, columns*W) picture."""
    h, w = shape[-2:]
    n = len(images) // columns * columns or len(images)
    columns = min(columns, n)
    tiles = np.clip(images[:n], 0, 1).reshape(-1, columns, h, w)
    return tiles.transpose(0, 2, 1, 3).reshape(-1, columns * w)


def loss_chart(history: dict[str, np.ndarray], keys: list[str] | None = None) -> alt.Chart:
    """One line per logged quantity against the step."""
    keys = keys or list(history)
    frames = [pd.DataFrame({"step": history[k][:, 0], "value": history[k][:, 1], "series": k})
              for k in keys if k in history]
    df = pd.concat(frames) if frames else pd.DataFrame({"step": [], "value": [], "series": []})
    return (
        alt.Chart(df).mark_line().encode(x="step:Q", y=alt.Y("value:Q", scale=alt.Scale(zero=False)), color="series:N")
        .properties(height=220)
    )


def coloured_points(points: np.ndarray, colour: np.ndarray, title: str) -> go.Figure:
    """Points coloured by a scalar (e.g. their angle in base space), cyclic colour scale."""
    fig = go.Figure(go.Scattergl(x=points[:, 0], y=points[:, 1], mode="markers",
                                 marker=dict(size=3, color=colour, colorscale="HSV", opacity=0.8)))
    return layout(fig, title)


def enlarged(picture: np.ndarray, width: int = IMAGE_WIDTH) -> np.ndarray:
    """Nearest-neighbour upscaling, so 8x8 digits stay crisp instead of a 64-pixel thumbnail."""
    f = max(1, width // picture.shape[1])
    return np.repeat(np.repeat(picture, f, 0), f, 1)
