"""A user's CSV of 2D points: validated, standardised, split 90/10 into train and test."""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .dataset import Dataset

MIN_ROWS, MAX_ROWS = 10, 1_000_000


def parse_points(text: str, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Rows of two numbers separated by ',', ';', tab or spaces; an optional header line."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise UserError("the CSV is empty: it needs two numeric columns of x, y points")
    if _cells(lines[0]) and not _is_number(_cells(lines[0])[0]):
        lines = lines[1:]  # a header
    if len(lines) > max_rows:
        raise UserError(f"the CSV has {len(lines):,} rows; at most {max_rows:,} are allowed")
    rows = np.empty((len(lines), 2), np.float64)
    for i, line in enumerate(lines):
        rows[i] = _row(line, i + 1)
    if len(rows) < MIN_ROWS:
        raise UserError(f"the CSV has {len(rows)} rows; at least {MIN_ROWS} points are needed")
    return rows


def _cells(line: str) -> list[str]:
    for sep in (",", ";", "\t"):
        if sep in line:
            return [c.strip() for c in line.split(sep)]
    return line.split()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _row(line: str, row: int) -> tuple[float, float]:
    cells = _cells(line)
    if len(cells) != 2:
        raise UserError(f"CSV needs two numeric columns; row {row} has {len(cells)} columns: {line[:40]!r}")
    values = []
    for col, cell in zip("xy", cells):
        if not _is_number(cell):
            raise UserError(f"CSV needs two numeric columns; column {col} has text in row {row}: {cell[:20]!r}")
        value = float(cell)
        if not np.isfinite(value):
            raise UserError(f"CSV values must be finite; column {col} is {cell} in row {row}")
        values.append(value)
    return values[0], values[1]


def load_csv(content: str | bytes, name: str = "csv", seed: int = 0, max_rows: int = MAX_ROWS) -> Dataset:
    """Points from CSV text or bytes, standardised to zero mean and unit std per column."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if "\x00" in text:
        raise UserError("this is a binary file, not CSV text: save the points as comma-separated values")
    x = parse_points(text, max_rows)
    std = x.std(0)
    if (std < 1e-12).any():
        raise UserError("the CSV points do not spread in both x and y (a column is constant)")
    x = ((x - x.mean(0)) / std).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, len(x) // 10)
    return Dataset(name, "dataset-2d", x[order[n_test:]], x[order[:n_test]], (2,))


def load_csv_file(path: str, seed: int = 0) -> Dataset:
    """`load_csv` on a file; a missing or unreadable file is a UserError."""
    try:
        with open(path, "rb") as f:
            content = f.read(64 * MAX_ROWS)
    except OSError as e:
        raise UserError(f"cannot read CSV file {path!r}: {e.strerror}") from e
    return load_csv(content, name=path, seed=seed)
