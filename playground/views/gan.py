"""GAN views: samples over the critic, generator-gradient arrows, D* beside D, manifold, mode meter,
a timeline slider over past samples, divergence curves; for images a fixed-z sample grid.

Everything drawn comes from `snap.visuals`: the model's, and what the run adds of the known data
density (`genmodels.evaluation.theory.gan_theory`: D*, the JS estimate, the samples' quality); only
the quality of each timeline entry is computed here, once per entry.
"""

from __future__ import annotations

from html import escape

import numpy as np
import streamlit as st

from genmodels.data import Dataset
from genmodels.models import MODELS
from genmodels.models.gans.gan import TIMELINE_CAPACITY
from genmodels.setup import Setup
from genmodels.training.snapshot import Snapshot

from .. import figures, memo
from ..memo import Picture
from ..pictures import gan


def draw(snap: Snapshot, data: Dataset, setup: Setup) -> None:
    v = snap.visuals
    st.caption(last_move(snap))
    if data.is_image:
        draw_images(v, data, snap.visuals_step)
    elif "samples" in v:
        draw_points(v, data, setup, snap.visuals_step)


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
def draw_points(v: dict[str, np.ndarray], data: Dataset, setup: Setup, step: int) -> None:
    """Two rows of panels: critic with arrows beside D* (known density), manifold beside the timeline; then the
    mode meter and the curves. All of one snapshot: the timeline starts at its samples, the meter's. The host
    draws the pictures at the timeline's default (this step, key "gan_timeline_plot"); the page the others."""
    model, config = MODELS[setup.model], setup.model_config
    now = {k.removeprefix("quality_"): float(a) for k, a in v.items() if k.startswith("quality_")}
    optimal = memo.get("gan.optimal", v, lambda: gan.optimal_critic(v, setup))
    curves = {"step": v["timeline_step"], **{k.removeprefix("timeline_"): a for k, a in v.items()
                                             if k.startswith("timeline_") and k != "timeline_step"}}
    grad = float(np.linalg.norm(v["arrows_v"], axis=1).max())
    m = getattr(config, "pack", 1)
    packs = f" on {m} copies of x (PacGAN packing)" if m > 1 else ""
    d_star = None if optimal is None else Picture(
        "gan_dstar", lambda: gan.critic_picture(v, data, setup, optimal),
        f"optimal {model.critic_label}{' = pᵐ/(pᵐ+qᵐ), m = ' + str(m) if m > 1 else ''} from p and a KDE q of "
        f"G's samples (grey: neither has mass) · JS ≈ {float(v['js_estimate']):.3f}")
    memo.row(st, v, [Picture("gan_critic", lambda: gan.critic_picture(v, data, setup),
                             f"{model.critic_label}{packs} over the plane (purple: says fake, green: says real), "
                             f"data green, "
                             f"fakes purple; arrows: −∇ of the G loss on the fakes (longest ‖∇‖ = {grad:.2g})"),
                     d_star], step)
    if optimal is None:
        st.caption(no_d_star(data, data.log_prob is not None))
    pictures = st.container()  # above the timeline's slider: a picture after it would move when it appears
    k, steps = timeline_index(v, v["samples"])
    title = "samples (red) vs data (blue) " + ("at this step" if k is None else f"at G step {steps[k]}")
    shown = now if k is None else {name: curves[name][k] for name in ("modes", "total") if name in curves}
    if "modes" in shown:
        title += f" · {int(shown['modes'])}/{int(shown['total'])} modes"
    memo.row(pictures, v, [
        Picture("gan_manifold", lambda: gan.manifold_picture(v),
                "generator manifold: images of z-grid lines (blue: z₂ fixed, orange: z₁ fixed)"),
        Picture(timeline_key("gan_timeline_plot", k), lambda: gan.timeline_picture(v, data, k), title)], step)
    mode_meter(now, step)
    st.vega_lite_chart(memo.get("gan.curve_chart", v, lambda: figures.loss_chart(curve_history(curves))),
                       key="gan_curves")


def no_d_star(data: Dataset, known_density: bool) -> str:
    """Why there is no D* panel, instead of a picture of artefacts."""
    if known_density:
        return ("No optimal-critic panel: a Wasserstein critic's optimum is a Kantorovich potential, "
                "with no pointwise formula in p and q.")
    return (f"No D* = p/(p+q) panel: {data.name} has no known density p (D* is drawn on the Gaussian mixtures "
            "and rings, e.g. 8gaussians or ring8).")


def mode_meter(now: dict[str, float], step: int) -> None:
    """The current 2,500 fixed-z samples: modes covered, high-quality share, histogram divergences (one element)."""
    cells = [("KL(data ‖ G)", f"{now['kl']:.2f}", "large when modes are missing"),
             ("KL(G ‖ data)", f"{now['reverse_kl']:.2f}", "large for samples off the data")]
    if "modes" in now:
        cells[:0] = [("modes covered (≥1 sample within 3σ)", f"{now['modes']:.0f}/{now['total']:.0f}", ""),
                     ("high-quality samples", f"{100 * now['high_quality']:.0f}%", "")]
    st.html(memo.Markup(meter_html(cells, f"the samples of step {step}")))


def meter_html(cells: list[tuple[str, str, str]], about: str) -> str:
    """Label above a large value, side by side, as st.metric draws them; `about` heads the row."""
    boxes = "".join(f'<div title="{escape(help_)}"><div style="font-size:0.85rem;color:#6b6b6b">{escape(label)}</div>'
                    f'<div class="meter-value" style="font-size:1.8rem">{escape(value)}</div></div>'
                    for label, value, help_ in cells)
    grid = f"display:grid;grid-template-columns:repeat({len(cells)},minmax(0,1fr));gap:1rem"
    return (f'<div class="mode-meter"><div style="font-size:0.8rem;color:#6b6b6b">{escape(about)}</div>'
            f'<div style="{grid}">{boxes}</div></div>')


def curve_history(curves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Curves in [0, 1] as chart series against the generator step: JS, mode fraction, high quality."""
    series = {"JS(data, G) on a 48x48 histogram": curves["js"]}
    if "modes" in curves:
        series["modes covered / total"] = curves["modes"] / curves["total"]
        series["high-quality fraction"] = curves["high_quality"]
    return {k: np.stack([curves["step"], s], 1) for k, s in series.items()}


def timeline_key(name: str, k: int | None) -> str | tuple[str, int]:
    """A timeline picture's memo key: the plain name at the slider's default (the host's picture), else with k."""
    return name if k is None else (name, k)


def timeline_index(v: dict[str, np.ndarray], current: np.ndarray) -> tuple[int | None, list[int]]:
    """A slider over the recorded entries and, newest, the current samples (None: what the rest of the page
    shows); -k is k entries back. Also the entries' G steps. A recorded entry equal to the current samples
    (nothing moved since) is not offered twice."""
    steps = [int(s) for s in v["timeline_step"]]
    n = len(steps) - (len(steps) > 0 and np.array_equal(v["timeline"][-1], current))
    if n == 0:
        return None, steps
    key = "gan_timeline"
    st.session_state[key] = max(st.session_state.get(key, 0), -n)  # entries may have been thinned
    back = st.slider(f"timeline: entries back from this step (at most {TIMELINE_CAPACITY} kept)", -n, 0, key=key)
    return (None if back == 0 else n + back), steps


# -- images -------------------------------------------------------------------------------------------
def draw_images(v: dict[str, np.ndarray], data: Dataset, step: int) -> None:
    if "images" not in v:
        return
    pictures = st.container()  # above the slider, as in draw_points
    k, steps = timeline_index(v, gan.current_images(v))
    memo.row(pictures, v, [
        Picture("gan_images", lambda: gan.image_tiles(v, data),
                figures.first_step_note(step, "G(z) for 64 fixed z", "the untrained generator's noise")),
        Picture(timeline_key("gan_timeline_images", k), lambda: gan.timeline_tiles(v, data, k),
                "16 fixed z " + ("at this step" if k is None else f"at G step {steps[k]}"))], step)
