"""Load test: N simulated students against a local Streamlit server on 127.0.0.1 (issue 6).

    python tests/load/loadtest.py --sessions 1 10 25 50 --duration 30

A browser tab is far too heavy to simulate a class on a small machine, so each simulated
session speaks Streamlit's own protocol, as the browser does, and renders nothing: a
websocket to `/_stcore/stream`, `BackMsg` protobufs up, `ForwardMsg` protobufs down.
Each session
  1. connects and asks for a full script run (the page load);
  2. presses Train: a full rerun whose widget states carry the button's trigger;
  3. follows the live fragment as the browser's timer does: every `auto_rerun.interval`
     seconds it asks for a rerun of that fragment and waits until the server reports the
     run finished, reading the step count from the status line.
For every N a fresh server is started on a free port and stopped at the end. The report:
sessions served (page loaded, Train pressed, at least one refresh, no error), p50/p95 page
refresh latency (fragment rerun asked -> finished), p95 gap between refreshes, steps/s per
session, the server's peak RSS, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "playground" / "app.py"
STEP = re.compile(r"\*\*step (\d+)\*\*")
DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
        ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
REQUEST_TIMEOUT = 120.0  # seconds one script run may take before it counts as an error
# Each session opens RealNVP at its defaults, as the LOADTEST.md history measured (the default page is
# the data's fastest fit since 2026-12-03: pass --query steps=1000000 to load that instead).
QUERY = "model=realnvp&steps=1000000"


@dataclass
class SessionStats:
    page_load: float | None = None
    latencies: list[float] = field(default_factory=list)  # fragment rerun asked -> finished
    gaps: list[float] = field(default_factory=list)  # finished -> next finished
    steps: list[tuple[float, int]] = field(default_factory=list)  # (time, step) after Train
    statuses: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def served(self) -> bool:
        return self.page_load is not None and bool(self.latencies) and not self.errors

    @property
    def steps_per_s(self) -> float | None:
        if len(self.steps) < 2 or self.steps[-1][0] == self.steps[0][0]:
            return None
        (t0, s0), (t1, s1) = self.steps[0], self.steps[-1]
        return (s1 - s0) / (t1 - t0)


class Page:
    """One simulated browser tab: sends script reruns, reads ForwardMsgs until each run finishes."""

    def __init__(self, ws, query: str, stats: SessionStats):
        self.ws, self.query, self.stats = ws, query, stats
        self.widgets: dict[str, str] = {}  # user key -> widget id
        self.fragment: tuple[str, float] | None = None  # (fragment id, interval) of the live panel
        self.step: int | None = None
        self.status = ""

    async def rerun(self, trigger: str | None = None, fragment: str | None = None) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_script_hash = self.query, ""
        if trigger:
            state.widget_states.widgets.add(id=self.widgets[trigger], trigger_value=True)
        if fragment:
            state.fragment_id, state.is_auto_rerun = fragment, True
        await self.ws.send(msg.SerializeToString())
        await asyncio.wait_for(self._until_finished(), REQUEST_TIMEOUT)

    async def _until_finished(self) -> None:
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "delta":
                self._read_delta(msg.delta)
            elif kind == "auto_rerun":
                self.fragment = (msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
            elif kind == "script_finished" and msg.script_finished in DONE:
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    self.stats.errors.append("the script failed to compile")
                return

    def _read_delta(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            self.stats.errors.append(f"exception on the page: {element.exception.message[:200]}")
        elif kind == "markdown" and (m := STEP.search(element.markdown.body)):
            self.step = int(m.group(1))
            self.status = element.markdown.body.split(" · ")[2] if element.markdown.body.count(" · ") >= 2 else ""
        else:
            widget_id = getattr(getattr(element, kind), "id", "")
            if widget_id.startswith("$$ID-"):
                self.widgets[widget_id.split("-", 2)[2]] = widget_id


async def student(url: str, query: str, duration: float, max_requests: int, stats: SessionStats,
                  train: bool = True) -> None:
    """Load the page, press Train, follow the live panel for `duration` s or `max_requests` refreshes."""
    start = time.monotonic()
    async with connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:
        page = Page(ws, query, stats)
        await page.rerun()
        stats.page_load = time.monotonic() - start
        if not train:
            return
        if "train" not in page.widgets or page.fragment is None:
            stats.errors.append("the page has no Train button or live panel")
            return
        await page.rerun(trigger="train")
        end, last = time.monotonic() + duration, time.monotonic()
        while time.monotonic() < end and len(stats.latencies) < max_requests:
            fragment_id, interval = page.fragment
            await asyncio.sleep(max(0.0, last + interval - time.monotonic()))
            asked = time.monotonic()
            await page.rerun(fragment=fragment_id)
            now = time.monotonic()
            stats.latencies.append(now - asked)
            stats.gaps.append(now - last)
            last = now
            stats.statuses.add(page.status)
            if page.step is not None:
                stats.steps.append((now, page.step))


async def guarded(coro, stats: SessionStats) -> None:
    try:
        await coro
    except Exception as e:  # a failed session is a measured error, not a crash of the load test
        stats.errors.append(f"{type(e).__name__}: {str(e)[:200]}")


async def run_sessions(port: int, n: int, query: str, duration: float, max_requests: int,
                       ramp: float) -> list[SessionStats]:
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    stats = [SessionStats() for _ in range(n)]

    async def one(i: int) -> None:
        await asyncio.sleep(ramp * i / max(n, 1))  # students arrive over `ramp` seconds
        await guarded(student(url, query, duration, max_requests, stats[i]), stats[i])

    await asyncio.gather(*(one(i) for i in range(n)))
    return stats


# -- the server --------------------------------------------------------------------------------
def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run playground/app.py` on 127.0.0.1:<free port>, its RSS sampled until stopped."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="loadtest-server-")
        cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(self.port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.peak_rss, self._stop = 0, threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        self._sampler.start()
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.tail()}")

    def cpu(self) -> float:
        """CPU seconds the server has used so far (0 once it has exited)."""
        try:
            return cpu_seconds(psutil.Process(self.proc.pid))
        except psutil.Error:
            return 0.0

    def hosts_cpu(self) -> float:
        """CPU seconds the server's children (the hosts that train) have used so far."""
        try:
            return sum(cpu_seconds(p) for p in psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.Error:
            return 0.0

    def seconds_to_idle(self, limit: float = 90.0, idle: float = 0.1) -> float | None:
        """Seconds until the hosts use under `idle` of a core (the closed tabs' runs paused), or None."""
        start = time.monotonic()
        while time.monotonic() - start < limit:
            before = self.hosts_cpu()
            time.sleep(1.0)
            if self.hosts_cpu() - before < idle:
                return time.monotonic() - start - 1.0
        return None

    def rss(self) -> int:
        try:
            process = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except psutil.Error:
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_rss = max(self.peak_rss, self.rss())

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        self.log.seek(0)
        return "".join(self.log.readlines()[-lines:])

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# -- one measurement ---------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def measure(n: int, duration: float = 30.0, max_requests: int = 400, ramp: float = 5.0,
            query: str = QUERY, env: dict[str, str] | None = None) -> dict:
    """Start a server, warm it with one page load, run n sessions, stop it; the summary as a dict."""
    server = Server(env or {})  # the app's defaults, or GENMODELS_* variables from the environment
    try:
        server.wait_ready()
        warm = SessionStats()
        url = f"ws://127.0.0.1:{server.port}/_stcore/stream"
        asyncio.run(guarded(student(url, query, 0.0, 0, warm, train=False), warm))
        baseline_rss, load_avg = server.rss(), os.getloadavg()[0]
        client0, server0, hosts0, started = cpu_seconds(psutil.Process()), server.cpu(), server.hosts_cpu(), \
            time.monotonic()
        stats = asyncio.run(run_sessions(server.port, n, query, duration, max_requests, ramp))
        wall, client_cpu, server_cpu = time.monotonic() - started, cpu_seconds(psutil.Process()) - client0, \
            server.cpu() - server0
        hosts_cpu = server.hosts_cpu() - hosts0
        freed = server.seconds_to_idle()  # every tab is closed now: how long until their compute is free
        exit_code, log_tail = server.proc.poll(), server.tail(15)
    finally:
        server.stop()
    rates = sorted(r for s in stats if (r := s.steps_per_s) is not None)
    errors = [e for s in stats for e in s.errors]
    return {
        "sessions": n,
        "served": sum(s.served for s in stats),
        "refreshes": sum(len(s.latencies) for s in stats),
        "p50_refresh_s": percentile([x for s in stats for x in s.latencies], 50),
        "p95_refresh_s": percentile([x for s in stats for x in s.latencies], 95),
        "p95_gap_s": percentile([x for s in stats for x in s.gaps], 95),
        "p95_page_load_s": percentile([s.page_load for s in stats if s.page_load is not None], 95),
        "steps_per_s_median": statistics.median(rates) if rates else None,
        "steps_per_s_min": rates[0] if rates else None,
        "steps_per_s_total": sum(rates),
        "statuses_seen": sorted(set().union(*(s.statuses for s in stats)) - {""}),
        "warm_errors": warm.errors,
        "baseline_rss_mb": baseline_rss / 2**20,
        "peak_rss_mb": server.peak_rss / 2**20,
        "server_cpu_s": server_cpu,
        "hosts_cpu_s": hosts_cpu,
        "closed_tabs_freed_s": freed,
        "client_cpu_s": client_cpu,
        "wall_s": wall,
        "load_avg_1m_before": load_avg,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        **({"server_exit_code": exit_code, "server_log_tail": log_tail} if errors or warm.errors else {}),
    }


def fmt(value, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def table(rows: list[dict]) -> str:
    head = ("| N | served | refreshes | p50 refresh (s) | p95 refresh (s) | p95 gap (s) | p95 page load (s) "
            "| steps/s per session (median / min) | steps/s total | peak RSS (MB) | closed tabs idle after (s) "
            "| errors |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r['sessions']} | {r['served']} | {r['refreshes']} | {fmt(r['p50_refresh_s'])} "
            f"| {fmt(r['p95_refresh_s'])} | {fmt(r['p95_gap_s'])} | {fmt(r['p95_page_load_s'])} "
            f"| {fmt(r['steps_per_s_median'], '.0f')} / {fmt(r['steps_per_s_min'], '.0f')} "
            f"| {fmt(r['steps_per_s_total'], '.0f')} | {r['peak_rss_mb']:.0f} | {fmt(r['closed_tabs_freed_s'], '.0f')} "
            f"| {r['errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 25, 50])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each session follows training")
    parser.add_argument("--max-requests", type=int, default=400, help="refreshes per session at most")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the sessions connect")
    parser.add_argument("--query", default=QUERY, help="the share-URL query each session opens")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    for n in args.sessions:
        rows.append(measure(n, args.duration, args.max_requests, args.ramp, args.query))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    loads = ", ".join(f"{r['load_avg_1m_before']:.1f}" for r in rows)
    print(f"{os.cpu_count()} cpu cores; 1-minute load average before each run: {loads}")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["errors"] == 0 and r["served"] == r["sessions"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
