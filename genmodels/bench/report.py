"""What every table of BENCHMARKS.md shares: markdown rows, a section replaced in place, runs in processes."""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def write_section(path: str | Path, lines: list[str], heading: str) -> None:
    """Put `lines` (a section whose first line starts with `heading`, e.g. "## GANs") into the markdown file
    at `path`: in place of the section that starts with the same heading, else at the end."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = "\n".join(lines) + "\n"
    pattern = re.compile(rf"^{re.escape(heading)}.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def run_jobs(run: Callable[..., dict], jobs: Sequence[tuple], workers: int, log: Callable[[dict], None]) -> list[dict]:
    """`run(*job)` for every job with 1 torch thread: in this process for one worker, else each in a
    spawned process of its own, `workers` at a time (so CPU seconds are each run's own). `log` sees each
    record as it comes, in the jobs' order."""
    if workers == 1:
        saved = torch.get_num_threads()
        try:
            return [_logged(log, _one_thread(run, *job)) for job in jobs]
        finally:
            torch.set_num_threads(saved)
    context = multiprocessing.get_context("spawn")  # no torch thread pool inherited by a fork
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(_one_thread, run, *job) for job in jobs]
        return [_logged(log, future.result()) for future in futures]


def _one_thread(run: Callable[..., dict], *job) -> dict:
    torch.set_num_threads(1)
    return run(*job)


def _logged(log: Callable[[dict], None], record: dict) -> dict:
    log(record)
    return record
