"""`python -m playground.browser_check [pages | tabs] [--tabs N] [--seconds S]`: what a user sees in Chromium.

pages: every family's default page and every preset, one tab at a time (issue 13). Train is pressed
(on a preset it trains every run), and once the first pictures show, the page is sampled SAMPLES
times SAMPLE_EVERY seconds apart: its pictures and charts, those empty, the WebGL contexts it made,
"Too many active WebGL contexts" warnings and console errors. A chart that has just appeared is
drawn by the browser a moment later: a page fails when a chart is blank at two samples in a row.

tabs: `--tabs` tabs at once on the heaviest pages (VAE on moons, GAN on ring8, Glow on digits), all
training, each sampled every TAB_EVERY seconds for `--seconds` (issue 12): charts present and
non-empty at every sample, and no sign of a lost connection (Streamlit's "Connecting" or connection
error status, a console error).

Starts the app on a free local port, as `playground.screenshots` does; prints one row per page and
exits 1 if any page failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from genmodels.lecture.presets import load_presets

from .screenshots import COUNT_WEBGL, PAGES, app_and_browser

SAMPLES, SAMPLE_EVERY = 10, 0.5  # seconds
TAB_EVERY = 2.0
HEAVY = ("data=moons&model=vae", "data=ring8&model=nsgan", "data=digits&model=glow")
VIEWPORT = {"width": 1500, "height": 2600}
# Every picture and chart of the page, with whether it shows something.
CHARTS = """() => [
  ...[...document.querySelectorAll("img.live-picture")].map(i => ({
    kind: "image", ok: i.naturalWidth > 0 && i.getBoundingClientRect().height > 40,
    name: (i.closest("figure")?.querySelector("figcaption")?.textContent || "").slice(0, 30)})),
  ...[...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(c => ({
    kind: "vega", ok: !!c.querySelector("canvas, svg") && c.getBoundingClientRect().height > 40,
    name: c.textContent.slice(0, 30)})),
  ...[...document.querySelectorAll(".js-plotly-plot")].map(p => ({
    kind: "plotly", ok: (p.data || []).length > 0 && p.getBoundingClientRect().height > 40})),
]"""
STEP = """() => Number(([...document.querySelectorAll("strong")].map(s => s.textContent)
  .find(t => /^step \\d+$/.test(t)) || "step -1").slice(5))"""
DISCONNECTED = """() => /connecting|connection error/i.test(
  document.querySelector('[data-testid="stStatusWidget"]')?.textContent || "")"""


@dataclass
class Watch:
    """One tab and what was seen on it."""

    name: str
    page: object
    console: list[tuple[str, str]] = field(default_factory=list)
    samples: int = 0
    fewest: int | None = None  # pictures and charts at the sample that had the fewest
    first: int | None = None
    empty: list[str] = field(default_factory=list)  # charts blank at a sample and at the one before
    blank_before: bool = False
    disconnected: int = 0
    steps: list[int] = field(default_factory=list)  # the status line's step at each sample

    @classmethod
    def open(cls, browser, name: str, url: str) -> Watch:
        page = browser.new_page(viewport=VIEWPORT)
        page.add_init_script(COUNT_WEBGL)
        watch = cls(name, page)
        page.on("console", lambda m: watch.console.append((m.type, m.text)))
        page.goto(url)
        page.get_by_role("button", name="Train").first.click(timeout=120_000)
        return watch

    def drawn(self) -> bool:
        return any(c["kind"] == "image" for c in self.page.evaluate(CHARTS))

    def sample(self) -> None:
        charts = self.page.evaluate(CHARTS)
        self.samples += 1
        self.first = len(charts) if self.first is None else self.first
        self.fewest = len(charts) if self.fewest is None else min(self.fewest, len(charts))
        blank = [f"{c['kind']} {c.get('name', '')!r}" for c in charts if not c["ok"]]
        self.empty += blank if self.blank_before else []
        self.blank_before = bool(blank)
        self.disconnected += bool(self.page.evaluate(DISCONNECTED))
        self.steps.append(self.page.evaluate(STEP))

    def row(self) -> dict:
        lost = sum("Too many active WebGL contexts" in text for _, text in self.console)
        errors = [text for kind, text in self.console if kind == "error"]
        return {"page": self.name, "samples": self.samples, "charts": self.first, "fewest": self.fewest,
                "empty": len(self.empty), "webgl": self.page.evaluate("window.__webgl"), "lost_warnings": lost,
                "console_errors": len(errors), "disconnected": self.disconnected,
                "steps": f"{self.steps[0]} → {self.steps[-1]}" if self.steps else "–",
                "ok": bool(self.samples and self.fewest >= self.first and not self.empty and not lost
                           and not errors and not self.disconnected),
                "detail": "; ".join([*self.empty[:3], *errors[:3]])}


def wait_drawn(watch: Watch, timeout: float = 120.0) -> bool:
    """Wait until the page shows a picture; False (and a failure noted) if none came within `timeout`."""
    deadline = time.monotonic() + timeout
    while not watch.drawn():
        if time.monotonic() > deadline:
            text = " ".join(watch.page.evaluate("document.body.innerText").split())
            watch.empty.append(f"no picture within {timeout:.0f} s; the page read: {text[:160]!r}")
            return False
        time.sleep(0.5)
    return True


def check_pages(browser, base: str) -> list[dict]:
    """Each family page and preset alone: drawn, then sampled SAMPLES times SAMPLE_EVERY s apart."""
    presets = {f"preset {name}": f"preset={name}" for name in load_presets()[0]}
    pages = {**{f"family {name}": query for name, query in PAGES.items()}, **presets}
    rows = []
    for name, query in pages.items():
        watch = Watch.open(browser, name, f"{base}/?{query}")
        try:
            for _ in range(SAMPLES if wait_drawn(watch) else 0):
                watch.sample()
                time.sleep(SAMPLE_EVERY)
            rows.append(watch.row())
        finally:
            watch.page.close()
        print(line(rows[-1]), flush=True)
    return rows


def check_tabs(browser, base: str, tabs: int, seconds: float) -> list[dict]:
    """`tabs` tabs at once, cycling through HEAVY, all training; each sampled every TAB_EVERY s."""
    watches = [Watch.open(browser, f"tab {i + 1}: {HEAVY[i % len(HEAVY)]}", f"{base}/?{HEAVY[i % len(HEAVY)]}")
               for i in range(tabs)]
    try:
        drawn = [watch for watch in watches if wait_drawn(watch)]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for watch in drawn:
                watch.sample()
            time.sleep(TAB_EVERY)
        rows = [watch.row() for watch in watches]
    finally:
        for watch in watches:
            watch.page.close()
    for row in rows:
        print(line(row), flush=True)
    return rows


def line(r: dict) -> str:
    return (f"{'ok  ' if r['ok'] else 'FAIL'} {r['page']}: {r['samples']} samples, step {r['steps']}, "
            f"{r['charts']} charts (fewest {r['fewest']}), {r['empty']} empty, WebGL contexts {r['webgl']}, "
            f"lost-context warnings {r['lost_warnings']}, console errors {r['console_errors']}, "
            f"disconnected {r['disconnected']}"
            + (f" · {r['detail']}" if r["detail"] else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playground.browser_check", description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("pages", "tabs"), default="pages")
    parser.add_argument("--tabs", type=int, default=8, help="tabs at once (tabs mode)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of sampling (tabs mode)")
    args = parser.parse_args(argv)
    with app_and_browser() as (browser, base):
        rows = check_pages(browser, base) if args.mode == "pages" else check_tabs(browser, base, args.tabs,
                                                                                 args.seconds)
    failed = [r["page"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(failed)}/{len(rows)} pages ok" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
