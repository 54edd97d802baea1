"""`python -m playground.bench [--quick] [--seconds S] [--markdown FILE]`: what an open page costs training.

For the default setup of each family (moons with realnvp and vae, 8gaussians with nsgan and
flow-matching, digits with vae) runs train as the app trains them: on the app's host processes
(`shared_pool()`, one torch thread each, at nice 10), reached through a `RunHandle`, while this
process, the web process, measures steps/s

- headless: a run opened with `visual_interval=None`, nothing drawing;
- visuals: a run opened as the app opens it (visuals at most once per refresh), nothing drawing;
- page: that same run, and this process also redraws the live panel every refresh
  (`live.draw`, the fragment's body: status line, loss curves, the family's view) from the
  snapshots the pool brings, as an open tab makes the server do. The host trains in another
  process, so the page costs training CPU time (on a machine with cores to spare, nothing).

The page is drawn through `streamlit.testing.v1.AppTest`, not in bare mode. Bare mode
(calling the views outside `streamlit run`) builds and serialises every figure too, and
even keeps one process-wide mock session state, but without a script-run context nothing
is enqueued, so the hash of each message (a deterministic protobuf serialisation and md5
of the whole element, in `ScriptRunContext.enqueue`) is never computed, and widgets ignore
their state (a slider always returns its default). AppTest runs `live.draw` in a real
script-run context with the session state kept across runs, so every element goes through
what `streamlit run` does with it: Vega-Lite specs and their Arrow data, the pictures' HTML,
and that hash. Left out: the server's websocket write (one more serialisation of each message)
and the browser. AppTest also starts a script thread per run and parses the messages into its
element tree, work a server does not do, outside the time measured. "CPU ms per redraw" is the
CPU time of the script thread inside `live.draw` only (`time.thread_time`): its mean and
median over redraws, and the medians of the redraws that drew new visuals (their pictures,
which the host drew, are encoded and sent) and of those that did not (the same pictures sent
again). Then, with training paused, the median CPU time of a redraw that sends the same
pictures again and of one with new visuals and a new history.

Timings on a shared CPU are noisy: each repeat visits every setup and mode once, back to
back, and the median over repeats is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from genmodels.data import load_dataset
from genmodels.hosting.handle import RunHandle
from genmodels.hosting.pool import shared_pool, spec_for
from genmodels.setup import Setup

from .pictures import RENDER
from .session import Run, limits

SETUPS = (("moons", "realnvp"), ("moons", "vae"), ("8gaussians", "nsgan"), ("digits", "vae"),
          ("8gaussians", "flow-matching"))
MODES = ("headless", "visuals", "page")
LONG_RUN = 1_000_000  # steps: no run ends while it is measured
QUICK_SECONDS, FULL_SECONDS = 1.0, 4.0  # per timed run
REST_REDRAWS = 20  # redraws of each kind at rest (training paused)


def page(run, cpu_s, new):  # no annotations: AppTest runs this function's source as a script of its own
    """The AppTest script: one refresh of the live panel (a Run), its CPU seconds appended to `cpu_s` and
    to `new` whether it drew new visuals (of another step than the last redraw's)."""
    import time

    import streamlit as st

    from playground import live

    step = run.trainer.snapshot().visuals_step
    start = time.thread_time()
    live.draw(run)
    cpu_s.append(time.thread_time() - start)
    new.append(st.session_state.get("bench.visuals_step") != step)
    st.session_state["bench.visuals_step"] = step


def rest_page(run, cpu_s, fresh):  # an AppTest script, as `page`
    """One refresh of a paused run's panel, its CPU seconds appended to `cpu_s`; with `fresh["on"]` its
    visuals (and the replay's last frame, which a paused page draws) and its history come as new dicts each
    time, as for a snapshot with news: every chart is built again and every picture encoded again (those the
    host drew are not drawn again)."""
    import dataclasses
    import time
    from types import SimpleNamespace

    from genmodels.training.snapshot import Frame
    from playground import live

    snap = run.trainer.snapshot()
    if fresh["on"]:
        visuals, last = dict(snap.visuals), snap.timeline[-1:]
        frames = (*snap.timeline[:-1], *(Frame(f.step, visuals) for f in last))
        snap = dataclasses.replace(snap, visuals=visuals, timeline=frames, history=dict(snap.history))
    still = SimpleNamespace(heartbeat=lambda: None, active=False, snapshot=lambda: snap)
    start = time.thread_time()
    live.draw(dataclasses.replace(run, trainer=still))
    cpu_s.append(time.thread_time() - start)


@dataclasses.dataclass
class Bench:
    """One setup's two runs on the app's hosts (one headless, one watched as the app watches it), its open
    page, and what was measured on them."""

    run: Run  # the watched run
    headless: RunHandle
    app: AppTest
    cpu_s: list[float] = dataclasses.field(default_factory=list)
    new: list[bool] = dataclasses.field(default_factory=list)  # per redraw: did it draw new visuals
    rates: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {m: [] for m in MODES})

    @classmethod
    def open(cls, data_name: str, model: str, warm_up: float) -> Bench:
        setup = Setup(data=data_name, model=model)
        setup = dataclasses.replace(setup, train=dataclasses.replace(setup.train, steps=LONG_RUN))
        data = load_dataset(data_name, setup.train.seed)  # the page's copy: the hosts load their own by name

        def handle(visual_interval: float | None) -> RunHandle:  # no idle pause: no page beats in some modes
            return RunHandle(shared_pool(), spec_for(setup, data, visual_interval=visual_interval, render=RENDER))

        run, headless, cpu_s, new = Run(setup, data, handle(limits().refresh)), handle(None), [], []
        bench = cls(run, headless, AppTest.from_function(page, args=(run, cpu_s, new), default_timeout=120), cpu_s,
                    new)
        try:
            bench.timed("page", warm_up)  # imports, first visuals, first pictures: not counted
            bench.timed("headless", warm_up)
        except BaseException:
            bench.close()
            raise
        cpu_s.clear()
        new.clear()
        return bench

    def close(self) -> None:
        self.run.trainer.close()
        self.headless.close()

    def timed(self, mode: str, seconds: float) -> float:
        """Train for about `seconds` in `mode` on the host; steps per wall-clock second from the start to the
        pause request, counted from the run's snapshots before its start and after its pause. The run stops
        at the next round after the request (a control ends the block), so at most one step more is counted;
        the pictures of the paused step, which a pause then draws, are not training time."""
        t = self.headless if mode == "headless" else self.run.trainer
        before, start = t.snapshot().step, time.perf_counter()
        t.start()
        if mode == "page":
            self.redraw_until(start + seconds)
        else:
            time.sleep(seconds)
        end = time.perf_counter()
        t.pause()
        return (t.snapshot().step - before) / (end - start)

    def redraw_until(self, end: float) -> None:
        """A redraw every refresh period, as the fragment's timer asks (back to back when one is late)."""
        due = time.perf_counter()
        while due < end:
            self.app.run()
            if self.app.exception:
                raise RuntimeError(f"the live panel failed: {self.app.exception[0].message}")
            due = max(due + limits().refresh, time.perf_counter())
            time.sleep(max(0.0, min(due, end) - time.perf_counter()))

    def at_rest(self, redraws: int) -> dict[str, float]:
        """With training paused (nothing else running here): the median CPU ms of a redraw that sends the
        same pictures again, and of one with news (new visuals and history)."""
        cpu_s, fresh = [], {"on": False}
        app = AppTest.from_function(rest_page, args=(self.run, cpu_s, fresh), default_timeout=120)
        out = {}
        for on in (False, True):
            fresh["on"] = on
            app.run()  # the first redraw of each kind (imports, a first build) is not counted
            cpu_s.clear()
            for _ in range(redraws):
                app.run()
            if app.exception:
                raise RuntimeError(f"the live panel failed: {app.exception[0].message}")
            out["rest_new_ms" if on else "rest_same_ms"] = 1000 * statistics.median(cpu_s)
        return out

    def record(self) -> dict:
        s = self.run.setup
        rate = {m: statistics.median(r) for m, r in self.rates.items()}
        return {"data": s.data, "model": s.model, "batch": s.train.batch_size, "refresh_s": limits().refresh,
                "headless_steps_per_s": rate["headless"], "visuals_steps_per_s": rate["visuals"],
                "page_steps_per_s": rate["page"], "visuals_ratio": self.ratio("visuals"),
                "page_ratio": self.ratio("page"), "visuals_spread": spread(self.ratios("visuals")),
                "page_spread": spread(self.ratios("page")),
                "redraw_cpu_ms": 1000 * statistics.fmean(self.cpu_s),
                "redraw_cpu_ms_median": 1000 * statistics.median(self.cpu_s), "redraws": len(self.cpu_s),
                "redraw_cpu_ms_new": self.median_ms(True), "redraw_cpu_ms_same": self.median_ms(False),
                "new_visuals_share": statistics.fmean(self.new), "rates": self.rates}

    def ratios(self, mode: str) -> list[float]:
        """Per repeat, `mode`'s steps/s over the mean of the headless steps/s measured just before it and just
        after it (the next repeat's, or the closing one): bracketed seconds apart, so the machine's drift
        (±25% over minutes here) cancels to first order, not only in the mode timed first."""
        h = self.rates["headless"]
        return [r / ((a + b) / 2) for r, a, b in zip(self.rates[mode], h, h[1:])]

    def ratio(self, mode: str) -> float:
        """The median of `ratios`."""
        return statistics.median(self.ratios(mode))

    def median_ms(self, new: bool) -> float | None:
        """The median CPU ms of the redraws that drew new visuals (or of those that did not); None if none did."""
        cpu = [c for c, n in zip(self.cpu_s, self.new) if n == new]
        return 1000 * statistics.median(cpu) if cpu else None


def measure(seconds: float = 1.0, repeats: int = 3, warm_up: float = 1.0,
            setups: tuple[tuple[str, str], ...] = SETUPS) -> list[dict]:
    """Steps/s of each setup headless, with visuals and with the page open; one record per setup."""
    benches: list[Bench] = []
    try:
        for data, model in setups:
            benches.append(Bench.open(data, model, warm_up))
        for _ in range(repeats):
            for bench in benches:
                for mode in MODES:
                    bench.rates[mode].append(bench.timed(mode, seconds))
        for bench in benches:  # the closing headless run: every other mode has a headless run on each side
            bench.rates["headless"].append(bench.timed("headless", seconds))
        return [bench.record() | bench.at_rest(REST_REDRAWS) for bench in benches]
    finally:
        for bench in benches:
            bench.close()


def rest_costs(warm_up: float = 1.0, setups: tuple[tuple[str, str], ...] = SETUPS) -> list[dict]:
    """Only the redraw costs at rest (`Bench.at_rest`), after `warm_up` seconds of training each."""
    records = []
    for data, model in setups:
        bench = Bench.open(data, model, warm_up)
        try:
            records.append({"data": data, "model": model, **bench.at_rest(REST_REDRAWS)})
        finally:
            bench.close()
    return records


def markdown(records: list[dict], seconds: float, repeats: int, note: str = "") -> str:
    """The "## The open page" section of BENCHMARKS.md; `note` (when and where it ran) heads it."""
    header = ["data", "model", "batch", "headless steps/s", "with visuals", "with the page", "visuals / headless",
              "page / headless", "CPU ms per redraw (mean)", "(median)", "redraws with new visuals",
              "their median", "median of the others", "at rest: same pictures", "new pictures"]
    rows = [[r["data"], r["model"], str(r["batch"]), f"{r['headless_steps_per_s']:.0f}",
             f"{r['visuals_steps_per_s']:.0f}", f"{r['page_steps_per_s']:.0f}",
             f"{r['visuals_ratio']:.2f} {r['visuals_spread']}", f"{r['page_ratio']:.2f} {r['page_spread']}",
             f"{r['redraw_cpu_ms']:.1f}", f"{r['redraw_cpu_ms_median']:.1f}",
             f"{100 * r['new_visuals_share']:.0f}%", ms(r["redraw_cpu_ms_new"]), ms(r["redraw_cpu_ms_same"]),
             ms(r["rest_same_ms"]), ms(r["rest_new_ms"])]
            for r in records]
    return "\n".join([
        "## The open page",
        "",
        *([note, ""] if note else []),
        f"`python -m playground.bench`: the app's default setup of each family, trained as the app trains it, on "
        f"the app's host processes through a `RunHandle` (1 torch thread, nice 10), for {seconds:g} s per mode, "
        f"median of {repeats} interleaved repeats (the ratios: the median over repeats of each mode's rate over "
        "the mean of the headless rates just before and just after it, one closing headless run added; in brackets "
        "their lower and upper quartiles); steps/s from "
        "the run's own step counter over the wall-clock time from its start to the pause request (the pictures "
        "a pause draws of the paused step are not training time). Headless: a run opened without visuals; with "
        "visuals: a run opened as "
        f"the app opens it, its host computing the page's visuals and drawing their pictures every "
        f"{limits().refresh:g} s at most (and in at most GENMODELS_LIVE_SHARE of its training time), no page; "
        "with the page: "
        f"that run while this process, the web process, also redraws the live panel every {limits().refresh:g} s "
        "from the snapshots its pool brings "
        "(through Streamlit's AppTest). CPU ms per redraw: the CPU time of the thread that runs the live panel's "
        "body (`live.draw`) in one redraw, the mean and the median over all redraws, then the share of redraws "
        "that drew new visuals (whose pictures, drawn by the host, are encoded and sent then), their median, and "
        "the median of the others (the same pictures sent again). At rest: with training paused, the median of "
        f"{REST_REDRAWS} redraws sending the same pictures again, and of as many drawing new visuals (a new dict "
        "each time, with the host's pictures in it; steadier than the others on a busy machine).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ])


def spread(ratios: list[float]) -> str:
    """The lower and upper quartiles of a mode's per-repeat ratios, as "(q1–q3)"; empty under two repeats."""
    if len(ratios) < 2:
        return ""
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"({q1:.2f}–{q3:.2f})"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playground.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per timed run (as make bench)")
    parser.add_argument("--seconds", type=float, default=FULL_SECONDS,
                        help=f"seconds per timed run (default {FULL_SECONDS:g}; 1 s runs are noisy by about ±0.1)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--markdown", type=Path, help="append the results as a section to this file")
    parser.add_argument("--note", default="", help="a line heading the section (when, where, the machine's load)")
    parser.add_argument("--at-rest", action="store_true",
                        help="only the CPU ms of a redraw with training paused (same pictures, new pictures)")
    args = parser.parse_args(argv)
    if args.at_rest:
        for r in rest_costs():
            print(f"{r['data']:>8} {r['model']:<8} same pictures {r['rest_same_ms']:5.1f} ms · "
                  f"new pictures {r['rest_new_ms']:5.1f} ms")
        return
    seconds = QUICK_SECONDS if args.quick else args.seconds
    records = measure(seconds, args.repeats)
    text = markdown(records, seconds, args.repeats, args.note)
    print(text)
    if args.markdown:
        with args.markdown.open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
