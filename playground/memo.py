"""Build each figure once per new visuals: a small per-session memo for the live panel.

The live fragment redraws every refresh (0.25 s by default), but the trainer makes new
visuals at most once per refresh and none while paused. Between two, every snapshot (and
every replayed frame) hands out the *same* `visuals` dict, so a figure is kept with the
object it was built from and reused while that object is still the one drawn. Widget values
a figure depends on (a slider) belong in its key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import plotly.graph_objects as go
import streamlit as st

SIZE = 64  # entries per session: a few figures per view, times the slider positions visited
STATE_KEY = "memo"

T = TypeVar("T")


def get(key: Hashable, source: object, build: Callable[[], T]) -> T:
    """`build()`, or what it returned for `key` when `source` was this same object.

    The entry holds `source` itself, so the identity test cannot be fooled by a new
    object at a freed one's address; the least recently used entries go first.
    """
    memo: OrderedDict[Hashable, tuple[object, object]] = st.session_state.setdefault(STATE_KEY, OrderedDict())
    entry = memo.get(key)
    if entry is None or entry[0] is not source:
        entry = memo[key] = (source, build())
        if len(memo) > SIZE:
            memo.popitem(last=False)
    memo.move_to_end(key)
    return entry[1]


def plotly_chart(where, key: str, source: object, build: Callable[[], go.Figure], *values: Hashable) -> None:
    """`where.plotly_chart(build(), key=key)`, the figure built once per `source` and widget `values`.

    Element keys are unique on a page, so they name the figures here too.
    """
    where.plotly_chart(get((key, *values), source, build), key=key)


def image(where, key: str, source: object, build: Callable[[], bytes], caption: str, *values: Hashable) -> None:
    """`where.image` of the PNG bytes `build()` makes (e.g. `Plane.png`), built once per `source` and `values`.

    Bytes go out as they are (Streamlit re-encodes numpy arrays on every call); the fixed
    width keeps the layout still from refresh to refresh.
    """
    picture = get((key, *values), source, build)
    where.image(picture, caption=caption, width=png_width(picture))


def png_width(picture: bytes) -> int:
    """The width a PNG's header states (bytes 16..20 of the IHDR chunk)."""
    return int.from_bytes(picture[16:20], "big")
