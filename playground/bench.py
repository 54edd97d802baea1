"""`python -m playground.bench [--quick] [--seconds S] [--markdown FILE]`: what an open page costs training.

For the default setup of each family (moons with realnvp, vae and gan; digits with vae)
a `Trainer` with the app's settings (1 torch thread, visuals at most once per refresh) trains
in a background thread of this process while this measures steps/s

- headless: `visual_interval=None`, nothing drawing;
- visuals: the trainer computes the page's visuals every refresh at most, nothing drawing;
- page: as visuals, and this process also redraws the live panel every refresh
  (`live.draw`, the fragment's body: status line, loss curves, the family's view),
  as an open tab makes the server do. The app trains on hosts, other processes, so there the
  page costs training only CPU time, not Python's lock: "with the page" is the worst case.

The page is drawn through `streamlit.testing.v1.AppTest`, not in bare mode. Bare mode
(calling the views outside `streamlit run`) builds and serialises every figure too, and
even keeps one process-wide mock session state, but without a script-run context nothing
is enqueued, so the hash of each message (a deterministic protobuf serialisation and md5
of the whole element, in `ScriptRunContext.enqueue`) is never computed, and widgets ignore
their state (a slider always returns its default). AppTest runs `live.draw` in a real
script-run context with the session state kept across runs, so every element goes through
what `streamlit run` does with it: plotly's `to_dict` and `to_json`, Vega-Lite specs and
their Arrow data, and that hash. Left out: the server's websocket write (one more
serialisation of each message) and the browser. AppTest also starts a script thread per run
and parses the messages into its element tree (about 3 ms of CPU per redraw here), work a
server does not do, so "with the page" is slightly pessimistic. "CPU ms per redraw" is the
CPU time of the script thread inside `live.draw` only (`time.thread_time`): its mean and
median over redraws.

Timings on a shared CPU are noisy: each repeat visits every setup and mode once, back to
back, and the median over repeats is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from genmodels.data import load_dataset
from genmodels.hosting.trainer import Trainer
from genmodels.setup import Setup

from .session import Run, limits

SETUPS = (("moons", "realnvp"), ("moons", "vae"), ("moons", "gan"), ("digits", "vae"))
MODES = ("headless", "visuals", "page")
LONG_RUN = 1_000_000  # steps: no run ends while it is measured
QUICK_SECONDS, FULL_SECONDS = 1.0, 4.0  # per timed run


def page(run, cpu_s):  # no annotations: AppTest runs this function's source as a script of its own
    """The AppTest script: one refresh of the live panel (a Run), its CPU seconds appended to `cpu_s`."""
    import time

    from playground import live

    start = time.thread_time()
    live.draw(run)
    cpu_s.append(time.thread_time() - start)


@dataclasses.dataclass
class Bench:
    """One setup's trainer and open page, and what was measured on them."""

    run: Run
    app: AppTest
    cpu_s: list[float] = dataclasses.field(default_factory=list)
    rates: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {m: [] for m in MODES})

    @classmethod
    def open(cls, data_name: str, model: str, warm_up: float) -> Bench:
        setup = Setup(data=data_name, model=model)
        setup = dataclasses.replace(setup, train=dataclasses.replace(setup.train, steps=LONG_RUN))
        data = load_dataset(data_name, setup.train.seed)
        trainer = Trainer(lambda: setup.build_model(data), data, setup.train, visual_interval=limits().refresh)
        run, cpu_s = Run(setup, data, trainer), []
        bench = cls(run, AppTest.from_function(page, args=(run, cpu_s), default_timeout=120), cpu_s)
        try:
            bench.timed("page", warm_up)  # imports, first visuals, first figures: not counted
        except BaseException:
            run.trainer.close()
            raise
        cpu_s.clear()
        return bench

    def timed(self, mode: str, seconds: float) -> float:
        """Train for about `seconds` in `mode`; steps per wall-clock second."""
        t = self.run.trainer
        t.visual_interval = None if mode == "headless" else limits().refresh
        before, start = t.training.step, time.perf_counter()
        t.start()
        if mode == "page":
            self.redraw_until(start + seconds)
        else:
            time.sleep(seconds)
        t.pause()  # returns once the running chunk has ended: every counted step is timed
        return (t.training.step - before) / (time.perf_counter() - start)

    def redraw_until(self, end: float) -> None:
        """A redraw every refresh period, as the fragment's timer asks (back to back when one is late)."""
        due = time.perf_counter()
        while due < end:
            self.app.run()
            if self.app.exception:
                raise RuntimeError(f"the live panel failed: {self.app.exception[0].message}")
            due = max(due + limits().refresh, time.perf_counter())
            time.sleep(max(0.0, min(due, end) - time.perf_counter()))

    def record(self) -> dict:
        s = self.run.setup
        rate = {m: statistics.median(r) for m, r in self.rates.items()}
        return {"data": s.data, "model": s.model, "batch": s.train.batch_size, "refresh_s": limits().refresh,
                "headless_steps_per_s": rate["headless"], "visuals_steps_per_s": rate["visuals"],
                "page_steps_per_s": rate["page"], "visuals_ratio": rate["visuals"] / rate["headless"],
                "page_ratio": rate["page"] / rate["headless"],
                "redraw_cpu_ms": 1000 * statistics.fmean(self.cpu_s),
                "redraw_cpu_ms_median": 1000 * statistics.median(self.cpu_s), "redraws": len(self.cpu_s)}


def measure(seconds: float = 1.0, repeats: int = 3, warm_up: float = 1.0,
            setups: tuple[tuple[str, str], ...] = SETUPS) -> list[dict]:
    """Steps/s of each setup headless, with visuals and with the page open; one record per setup."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # as the app trains (GENMODELS_THREADS, default 1)
    benches: list[Bench] = []
    try:
        for data, model in setups:
            benches.append(Bench.open(data, model, warm_up))
        for _ in range(repeats):
            for bench in benches:
                for mode in MODES:
                    bench.rates[mode].append(bench.timed(mode, seconds))
        return [bench.record() for bench in benches]
    finally:
        for bench in benches:
            bench.run.trainer.close()
        torch.set_num_threads(saved)


def markdown(records: list[dict], seconds: float, repeats: int) -> str:
    """The "## The open page" section of BENCHMARKS.md."""
    header = ["data", "model", "batch", "headless steps/s", "with visuals", "with the page", "visuals / headless",
              "page / headless", "CPU ms per redraw (mean)", "(median)"]
    rows = [[r["data"], r["model"], str(r["batch"]), f"{r['headless_steps_per_s']:.0f}",
             f"{r['visuals_steps_per_s']:.0f}", f"{r['page_steps_per_s']:.0f}", f"{r['visuals_ratio']:.2f}",
             f"{r['page_ratio']:.2f}", f"{r['redraw_cpu_ms']:.1f}", f"{r['redraw_cpu_ms_median']:.1f}"]
            for r in records]
    return "\n".join([
        "## The open page",
        "",
        f"`python -m playground.bench`: the app's default setup of each family, trained by the app's trainer "
        f"(1 torch thread) for {seconds:g} s per mode, median of {repeats} interleaved repeats. Headless: no "
        f"visuals; with visuals: the trainer computes the page's visuals every {limits().refresh:g} s at most "
        "(and, with the page's cost of drawing them, in LIVE_SHARE of the time); "
        f"with the page: the live panel is also redrawn every {limits().refresh:g} s in this process "
        "(through Streamlit's AppTest). CPU ms per redraw: the script thread's CPU time of one redraw, "
        "the mean and the median over redraws with and without new visuals.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playground.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per timed run (as make bench)")
    parser.add_argument("--seconds", type=float, default=FULL_SECONDS,
                        help=f"seconds per timed run (default {FULL_SECONDS:g}; 1 s runs are noisy by about ±0.1)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--markdown", type=Path, help="append the results as a section to this file")
    args = parser.parse_args(argv)
    seconds = QUICK_SECONDS if args.quick else args.seconds
    records = measure(seconds, args.repeats)
    text = markdown(records, seconds, args.repeats)
    print(text)
    if args.markdown:
        with args.markdown.open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
