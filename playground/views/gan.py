"""GAN views: samples over the critic, generator-gradient arrows, D* beside D, manifold, mode meter,
a timeline slider over past samples, divergence curves; for images a fixed-z sample grid.

Everything drawn comes from `snap.visuals` (the model) or from `genmodels.evaluation.theory`
(the known data density), computed at most once per new visuals step or timeline entry.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.evaluation.theory import gan_overlay, sample_quality
from genmodels.models import MODELS
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import figures, memo
from ..raster import CRITIC, Plane

ARROW_FRACTION = 0.12  # the longest arrow spans this fraction of the plot
CURVE_CACHE = 512  # timeline rows kept in the session
MANIFOLD_COLOURS = ("#1f77b4", "#ff7f0e")  # images of lines of constant z_2, of constant z_1
REAL_COLOUR, FAKE_COLOUR = "#1b7837", "#762a83"  # on the critic's purple (fake) to green (real) scale


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    st.caption(last_move(snap))
    if data.is_image:
        draw_images(v, data)
    elif "samples" in v:
        draw_points(v, data, setup)


def last_move(snap: Snapshot) -> str:
    """Which network moved at the latest step (Step D / Step G show one phase at a time)."""
    last = {phase: h[-1, 0] for phase in ("D", "G") if (h := snap.history.get(f"{phase}_loss")) is not None and len(h)}
    moved = [p for p, step in last.items() if step == snap.step]
    if moved == ["D"]:
        return "last step: **D** only. The critic changed; the samples did not."
    if moved == ["G"]:
        return "last step: **G** only. The samples moved under a fixed critic."
    return "each round: the critic takes n_critic steps (D), then the generator one (G)."


# -- 2D -----------------------------------------------------------------------------------------------
def draw_points(v: dict[str, np.ndarray], data: Dataset, setup: Setup) -> None:
    """Two columns of panels: critic with arrows, D* (known density), manifold, timeline; then the curves."""
    model, config = MODELS[setup.model], setup.model_config
    zrange = model.critic_range(config)
    overlay, now = memo.get("gan.theory", v, lambda: (gan_overlay(v, data), sample_quality(v["samples"], data)))
    optimal = model.optimal_critic(config, overlay["d_star"]) if overlay else None
    curves = memo.get("gan.curves", v, lambda: timeline_rows(v, data))
    left, right = st.columns(2)
    grad = float(np.linalg.norm(v["arrows_v"], axis=1).max())
    memo.image(left, "gan_critic", v, lambda: critic_picture(v, data, zrange).png(),
               f"{model.critic_label} over the plane (purple: says fake, green: says real), data green, fakes "
               f"purple; arrows: −∇ of the G loss on the fakes (longest ‖∇‖ = {grad:.2g})")
    with right:
        if optimal is not None:
            memo.image(st, "gan_dstar", v, lambda: critic_picture(v, data, zrange, optimal, arrows=False).png(),
                       f"optimal {model.critic_label} from p and a KDE q of G's samples (grey: neither has mass) · "
                       f"JS ≈ {float(overlay['js_estimate']):.3f}")
        else:
            st.caption(no_d_star(data, bool(overlay)))
    left, right = st.columns(2)
    memo.image(left, "gan_manifold", v, lambda: manifold_picture(v).png(),
               "generator manifold: images of z-grid lines (blue: z₂ fixed, orange: z₁ fixed)")
    with right:
        draw_timeline(v, data, curves)
    mode_meter(now)
    st.vega_lite_chart(figures.loss_chart(curve_history(curves)), key="gan_curves")


def no_d_star(data: Dataset, known_density: bool) -> str:
    """Why there is no D* panel, instead of a picture of artefacts."""
    if known_density:
        return ("No optimal-critic panel: a Wasserstein critic's optimum is a Kantorovich potential, "
                "with no pointwise formula in p and q.")
    return (f"No D* = p/(p+q) panel: {data.name} has no known density p (D* is drawn on the Gaussian mixtures "
            "and rings, e.g. 8gaussians or ring8).")


def critic_picture(v, data, zrange, values=None, arrows: bool = True) -> Plane:
    """The critic (or `values`, e.g. D*) as colour, purple (fake) → green (real) over its range (the values'
    own range for an unbounded critic), with data, fakes and the generator-gradient arrows."""
    lo, hi = zrange or (None, None)
    out = figures.plane(v).density(v["critic"] if values is None else values, stops=CRITIC, lo=lo, hi=hi)
    out.points(figures.thin(data.test, 500), REAL_COLOUR, 1)
    out.points(figures.thin(v["samples"], 500), FAKE_COLOUR, 1)
    if arrows:
        out.arrows(v["arrows_x"], arrow_tips(v["arrows_x"], v["arrows_v"], v["grid_x"]))
    return out


def arrow_tips(x: np.ndarray, g: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """Tips of segments from each fake point along -∇ℓ_G, scaled together so relative lengths stay true."""
    norm = np.linalg.norm(g, axis=1).max()
    return x + g * (ARROW_FRACTION * (gx[-1] - gx[0]) / norm if norm > 0 else 0.0)


def manifold_picture(v) -> Plane:
    """The image under G of straight lines in z: where the latent plane is stretched, folded or torn.

    Lines of constant z_2 in one colour, lines of constant z_1 in the other.
    """
    lines = v["manifold"]
    half = max(len(lines) // 2, 1)
    out = figures.plane(v)
    for part, colour in zip((lines[:half], lines[half:]), MANIFOLD_COLOURS):
        out.lines(part, colour)
    return out.points(figures.thin(v["samples"], 500), figures.MODEL_COLOUR, 1)


def mode_meter(now: dict[str, float]) -> None:
    """The current 2,500 fixed-z samples: modes covered, high-quality share, histogram divergences."""
    cols = st.columns(4)
    if "modes" in now:
        cols[0].metric("modes covered (≥1 sample within 3σ)", f"{now['modes']:.0f}/{now['total']:.0f}")
        cols[1].metric("high-quality samples", f"{100 * now['high_quality']:.0f}%")
    cols[2].metric("KL(data ‖ G)", f"{now['kl']:.2f}", help="large when modes are missing")
    cols[3].metric("KL(G ‖ data)", f"{now['reverse_kl']:.2f}", help="large for samples off the data")


def curve_history(curves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Curves in [0, 1] as chart series against the generator step: JS, mode fraction, high quality."""
    series = {"JS(data, G) on a 48x48 histogram": curves["js"]}
    if "modes" in curves:
        series["modes covered / total"] = curves["modes"] / curves["total"]
        series["high-quality fraction"] = curves["high_quality"]
    return {k: np.stack([curves["step"], s], 1) for k, s in series.items()}


def draw_timeline(v, data, curves) -> None:
    """The picked entry's samples, the slider below them: the slider appears once there are two entries, and
    a picture after it would change place in the page then (and vanish for a moment)."""
    steps = [int(s) for s in v["timeline_step"]]
    picture = st.container()
    k = timeline_index(steps)
    title = f"samples (red) vs data (blue) at G step {steps[k]}"
    if "modes" in curves:
        title += f" · {int(curves['modes'][k])}/{int(curves['total'][k])} modes"
    memo.image(picture, "gan_timeline_plot", v, lambda: figures.samples_vs_data(v["timeline"][k], data.test, v).png(),
               title, k)


def timeline_index(steps: list[int]) -> int:
    """A slider over the recorded entries: 0 is the newest, -k is k entries back."""
    if len(steps) == 1:
        return 0
    key = "gan_timeline"
    st.session_state[key] = max(st.session_state.get(key, 0), 1 - len(steps))  # entries may have been thinned
    back = st.slider("timeline: entries back from the newest (at most 64 kept)", 1 - len(steps), 0, key=key)
    return len(steps) - 1 + back


# -- theory on the known density, per timeline entry --------------------------------------------------
def timeline_rows(v: dict[str, np.ndarray], data: Dataset) -> dict[str, np.ndarray]:
    """sample_quality of each timeline entry, cached by (dataset, step, first sample)."""
    cache: dict = st.session_state.setdefault("gan_curve_rows", {})
    if len(cache) > CURVE_CACHE:
        cache.clear()
    rows = []
    for step, x in zip(v["timeline_step"], v["timeline"]):
        key = (data.name, int(step), x[0].tobytes())
        if key not in cache:
            cache[key] = sample_quality(x, data)
        rows.append(cache[key])
    return {"step": v["timeline_step"], **{k: np.array([r[k] for r in rows]) for k in rows[0]}}


# -- images -------------------------------------------------------------------------------------------
def draw_images(v: dict[str, np.ndarray], data: Dataset) -> None:
    if "images" not in v:
        return
    left, right = st.columns(2)
    memo.image(left, "gan_images", v, lambda: figures.grey_tiles(v["images"], data.shape, columns=8),
               "G(z) for 64 fixed z (step 0: the untrained generator's noise)")
    steps = [int(s) for s in v["timeline_step"]]
    with right:
        picture = st.container()  # above the slider, as in draw_timeline
        k = timeline_index(steps)
        memo.image(picture, "gan_timeline_images", v, lambda: figures.grey_tiles(v["timeline"][k], data.shape, 8),
                   f"16 fixed z at G step {steps[k]}", k)
