"""Lecture use: one-click presets, lecture mode, and the share URL that carries both.

URL keys besides the sidebar setup's: `preset=NAME` (the page shows that preset's
runs, explanation and equation; the key stays while its settings are unchanged),
`lecture=1` (large fonts, sidebar collapsed, the preset bar and keyboard shortcuts
on the page; seeds are those the presets pin, and drawing the visuals never touches the
training's random stream), and `B.<name>` /
`C.<name>` for runs compared with the sidebar's.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from genmodels.lecture.presets import Preset, load_presets
from genmodels.setup import Setup

from . import byod, compare, widgets

ASSETS = Path(__file__).resolve().parents[1] / "assets"
PRESET = "preset"  # the preset selector's key and the URL key
NO_PRESET = ""
VIEW_KEYS = (PRESET, "lecture")
PRESET_SHORTCUTS = {"previous": "PageUp", "next": "PageDown"}  # what presentation clickers send


def lecture_mode() -> bool:
    """`?lecture=1` in the URL, read once per session."""
    if "lecture" not in st.session_state:
        st.session_state.lecture = st.query_params.get("lecture", "0").lower() in ("1", "true", "yes", "on")
    return st.session_state.lecture


def page_options() -> dict:
    """Extra `st.set_page_config` arguments: lecture mode starts with the sidebar collapsed."""
    return {"initial_sidebar_state": "collapsed" if lecture_mode() else "auto"}


def setup_query(query: dict[str, str]) -> dict[str, str]:
    """The URL keys that describe the sidebar's setup (for `Setup.parse`)."""
    return {k: v for k, v in query.items() if k not in VIEW_KEYS and "." not in k}


def compared_queries(query: dict[str, str]) -> list[dict[str, str]]:
    """The URL's compared runs: keys 'B.name', 'C.name' -> one query per run, in order."""
    runs = [{k[2:]: v for k, v in query.items() if k.startswith(f"{letter}.")} for letter in compare.LETTERS]
    return [q for q in runs if q]


def start() -> None:
    """Once per session and before the sidebar: lecture CSS, then the URL's preset or compared runs."""
    if lecture_mode():
        st.markdown(f"<style>{(ASSETS / 'lecture.css').read_text()}</style>", unsafe_allow_html=True)
    if st.session_state.get("lecture.url_read"):
        return
    st.session_state["lecture.url_read"] = True
    query = st.query_params.to_dict()
    presets, _ = load_presets()
    if query.get(PRESET) in presets:
        st.session_state[PRESET] = query[PRESET]
        apply_preset(presets[query[PRESET]])
    elif PRESET in query:
        st.session_state["lecture.problems"] = [f"unknown or unavailable preset {query[PRESET]!r}"]
    else:
        restore_compared(query)


def restore_compared(query: dict[str, str]) -> None:
    base = Setup.parse(setup_query(query))[0]
    setups = []
    for q in compared_queries(query):
        setup, problems = Setup.parse({**q, "data": base.data})
        setups.append(setup)
        st.session_state.setdefault("lecture.problems", []).extend(problems)
    if setups:
        compare.set_runs(setups)


def apply_preset(preset: Preset) -> None:
    """Set the sidebar (and the compared runs) to the preset's; call before those widgets are drawn."""
    first, *others = preset.setups
    st.session_state.update({**byod.choice_state(first.data), **widgets.setup_state(first)})
    st.session_state.setup = first
    compare.set_runs(others)


def chosen_preset() -> Preset | None:
    return load_presets()[0].get(st.session_state.get(PRESET, NO_PRESET))


def on_preset_change() -> None:
    preset = chosen_preset()
    if preset is not None:
        apply_preset(preset)


def step_preset(offset: int) -> None:
    names = list(load_presets()[0])
    if not names:
        return
    current = st.session_state.get(PRESET, NO_PRESET)
    index = names.index(current) + offset if current in names else 0
    st.session_state[PRESET] = names[index % len(names)]
    on_preset_change()


def preset_picker() -> None:
    """The preset selector: in the sidebar, or across the page top in lecture mode (with ◀ ▶ buttons)."""
    presets, skipped = load_presets()
    options = [NO_PRESET, *presets]
    st.session_state.setdefault(PRESET, NO_PRESET)
    if st.session_state[PRESET] not in options:
        st.session_state[PRESET] = NO_PRESET

    def select(where) -> None:
        where.selectbox("lecture preset", options, key=PRESET, on_change=on_preset_change,
                        format_func=lambda n: presets[n].title if n else "— choose a figure of the notes —",
                        help=f"{len(presets)} presets from assets/presets" +
                             (f"; unavailable here: {', '.join(skipped)}" if skipped else ""))

    if not lecture_mode():
        with st.sidebar:
            select(st)
        return
    left, middle, right = st.columns([2, 7, 2], vertical_alignment="bottom")
    left.button("◀ prev", key="preset.previous", on_click=step_preset, args=(-1,), use_container_width=True,
                shortcut=PRESET_SHORTCUTS["previous"])
    select(middle)
    right.button("next ▶", key="preset.next", on_click=step_preset, args=(1,), use_container_width=True,
                 shortcut=PRESET_SHORTCUTS["next"])


def problems() -> list[str]:
    return st.session_state.pop("lecture.problems", [])


def matching_preset(setups: list[Setup]) -> Preset | None:
    """The chosen preset while the page still runs exactly its setups."""
    preset = chosen_preset()
    return preset if preset is not None and preset.setups == setups else None


def url_query(setups: list[Setup]) -> dict[str, str]:
    """The share URL's keys: the preset's name while unchanged, else the sidebar setup and compared runs."""
    preset = matching_preset(setups)
    if preset:
        query = {PRESET: preset.name}
    else:
        query = dict(setups[0].to_query())
        for letter, setup in zip(compare.LETTERS, setups[1:]):
            query.update({f"{letter}.{k}": v for k, v in setup.to_query().items() if k != "data"})
    if lecture_mode():
        query["lecture"] = "1"
    return query


def header(setups: list[Setup]) -> None:
    """The chosen preset's title, explanation and equation, above the plots."""
    preset = chosen_preset()
    if preset is None:
        return
    st.subheader(preset.title)
    if preset.setups != setups:
        note, restore = st.columns([4, 1], vertical_alignment="center")
        note.caption("The settings were changed from the preset's.")
        restore.button("restore the preset", key="preset.restore", on_click=on_preset_change)
    st.markdown(preset.explanation)
    st.latex(preset.equation)


def run_names(setups: list[Setup], fallback: list[str]) -> list[str]:
    """The preset's run labels while its setups are unchanged, else `fallback`."""
    preset = matching_preset(setups)
    return [r.label for r in preset.runs] if preset else fallback


def title(setups: list[Setup]) -> str:
    """A title for exports: the preset's while unchanged."""
    preset = matching_preset(setups)
    return preset.title if preset else f"{setups[0].model} on {setups[0].data}"
