"""Build each figure once per new visuals: a small per-session memo for the live panel.

The live fragment redraws every refresh (0.25 s by default), but the trainer makes new
visuals at most once per refresh and none while paused. Between two, every snapshot (and
every replayed frame) hands out the *same* `visuals` dict, so a figure is kept with the
object it was built from and reused while that object is still the one drawn. Widget values
a figure depends on (a slider) belong in its key.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeVar

import plotly.graph_objects as go
import streamlit as st

from .pictures import hosted

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


@dataclass(frozen=True)
class Picture:
    """One live picture: its memo key (with the values of the widgets it depends on), its PNG, its caption."""

    key: Hashable
    build: Callable[[], bytes]
    caption: str


def row(where, source: object, pictures: Sequence[Picture | None], step: int | None = None, columns: int = 2) -> None:
    """Pictures side by side, `columns` to a row, in one element: each PNG built once per `source` and key.

    One `st.html` for the whole row: every Streamlit element costs the server about half a
    millisecond each refresh, whatever it holds, and a row used to be three (st.columns and
    one st.html per column). A None keeps its cell empty, so the others stay in place. `step`
    (the step the visuals are of) heads every caption: the page says which step each picture shows.
    Inline data URIs, not `st.image`: st.image serves each picture from the media file manager, so
    the browser fetches it after the element arrives (a blank frame each refresh) and a file a
    later redraw has already dropped fails to load. The stated width and height keep the layout
    still from refresh to refresh. `st.html` of an object with `_repr_html_` takes the markup as it
    is, where a string is dedented first (0.5 ms for a 30 kB picture, every refresh). A picture the run's
    host made (`pictures.hosted`, the same key) is sent as it is; `build` makes the others.
    """
    key = ("row", tuple(p and (p.key, p.caption) for p in pictures), step, columns)
    where.html(get(key, source, lambda: _row_markup(source, pictures, step, columns)))


def _row_markup(source: object, pictures: Sequence[Picture | None], step: int | None, columns: int) -> Markup:
    """The row's HTML, made once per `source` (joining ~100 kB of data URIs each refresh cost a page a
    tenth of its redraw)."""
    label = "" if step is None else f"<b>step {step}</b> · "
    cells = ["<figure></figure>" if p is None else
             f"<figure>{get(p.key, source, lambda p=p: figure_html(hosted(source, p.key) or p.build()))}"
             f"<figcaption>{label}{escape(p.caption)}</figcaption></figure>" for p in pictures]
    grid = f"display:grid;grid-template-columns:repeat({columns},minmax(0,1fr));gap:1rem"
    return Markup(f'<div class="live-row" style="{grid}">{"".join(cells)}</div>')


def image(where, key: str, source: object, build: Callable[[], bytes], caption: str, *values: Hashable,
          step: int | None = None) -> None:
    """One picture (`row` of one) across the width of `where`, built once per `source` and `values`."""
    row(where, source, [Picture((key, *values) if values else key, build, caption)], step, columns=1)


class Markup(str):
    """HTML that `st.html` sends as it is."""

    def _repr_html_(self) -> str:
        return str(self)


def figure_html(png: bytes) -> str:
    """An <img> of the PNG as a data URI, at its own size (stated from the PNG header: no layout shift)."""
    width, height = png_size(png)
    return (f'<img class="live-picture" width="{width}" height="{height}" alt="" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')


def png_size(picture: bytes) -> tuple[int, int]:
    """(width, height) as a PNG's header states them (bytes 16..24 of the IHDR chunk)."""
    return int.from_bytes(picture[16:20], "big"), int.from_bytes(picture[20:24], "big")
