"""The live views' pictures as PNG bytes, made from a run's visuals: numpy and Pillow only, no Streamlit.

A run's host makes them (`render`, which the app names in each run's spec) as soon as it makes the
visuals, so the web process, which serves every page of a class, only sends them: a view draws a
picture itself only where its page picks one the host did not make (a slider moved off its default).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genmodels.data import Dataset
from genmodels.models import MODELS
from genmodels.setup import Setup

from . import diffusion, flow, gan, vae

PNG = "png:"  # the prefix of the visuals' keys that hold a picture the host made
RENDER = f"{__name__}:render"  # what a run's spec names
Pictures = Callable[[dict[str, np.ndarray], Dataset, Setup], dict[str, bytes]]
FAMILIES: dict[str, Pictures] = {
    "flow": flow.pictures,
    "gan": gan.pictures,
    "vae": vae.pictures,
    "diffusion": diffusion.pictures, "energy": diffusion.pictures,
}


def render(visuals: dict[str, np.ndarray], data: Dataset, setup: Setup) -> dict[str, np.ndarray]:
    """The pictures of these visuals by the model's family, as visuals entries: PNG + name -> the PNG's
    bytes (uint8)."""
    pictures = FAMILIES.get(MODELS[setup.model].family)
    made = pictures(visuals, data, setup) if pictures else {}
    return {PNG + name: np.frombuffer(png, np.uint8) for name, png in made.items()}


def hosted(visuals: object, name: object) -> bytes | None:
    """The picture `name` as the host made it, if it did."""
    png = visuals.get(PNG + name) if isinstance(visuals, dict) and isinstance(name, str) else None
    return None if png is None else png.tobytes()
