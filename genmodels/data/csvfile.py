"""A user's CSV of 2D points: validated, standardised, split 90/10 into train and test.

Text is read line by line, so a file is read whole (never cut at some byte count) while
no more than `max_rows` rows, each of at most MAX_LINE characters, are ever held: a larger
file is refused with a message instead. UTF-8 (with or without a byte-order mark) and
UTF-16 text are read; other bytes with NULs are called binary.
"""

from __future__ import annotations

import io
import math
from array import array
from collections.abc import Iterator
from typing import IO

import numpy as np

from ..errors import UserError
from .dataset import Dataset

MIN_ROWS, MAX_ROWS = 10, 1_000_000
MAX_LINE = 1000  # characters of one line; a row of two numbers needs fewer than 100
CONSTANT = 1e-12  # a column whose std is below this fraction of its largest |value| is constant
BINARY = "this is a binary file, not CSV text: save the points as comma-separated values"


def parse_points(text: IO[str], max_rows: int = MAX_ROWS) -> np.ndarray:
    """Rows of two numbers separated by ',', ';', tab or spaces from a text stream; an optional header line."""
    values, n_rows, first = array("d"), 0, True
    for line in _lines(text):
        if first and _cells(line) and not _is_number(_cells(line)[0]):
            first = False
            continue  # a header
        first = False
        if n_rows == max_rows:
            raise UserError(f"the CSV has more than {max_rows:,} rows; at most {max_rows:,} are allowed")
        n_rows += 1
        values.extend(_row(line, n_rows))
    if first:
        raise UserError("the CSV is empty: it needs two numeric columns of x, y points")
    if n_rows < MIN_ROWS:
        raise UserError(f"the CSV has {n_rows} rows; at least {MIN_ROWS} points are needed")
    return np.frombuffer(values, np.float64).reshape(-1, 2)


def _lines(text: IO[str]) -> Iterator[str]:
    """The stripped lines that are neither blank nor '#' comments; a line over MAX_LINE characters is refused."""
    for number, line in enumerate(iter(lambda: text.readline(MAX_LINE + 1), ""), 1):
        if len(line.rstrip("\r\n")) > MAX_LINE:
            raise UserError(f"line {number} of the CSV is over {MAX_LINE:,} characters long; each line should hold "
                            "one x, y point")
        if "\x00" in line:
            raise UserError(BINARY)
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


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
    return _value(cells[0], "x", row), _value(cells[1], "y", row)


def _value(cell: str, col: str, row: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise UserError(f"CSV needs two numeric columns; column {col} has text in row {row}: {cell[:20]!r}") from None
    if not math.isfinite(value):
        raise UserError(f"CSV values must be finite; column {col} is {cell[:20]} in row {row}")
    return value


def encoding(head: bytes) -> str:
    """The text encoding of bytes that start with `head`: UTF-8 or UTF-16 by their byte-order mark or NUL pattern.

    Raises the binary-file UserError for other bytes with NULs.
    """
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and odd.count(0) == len(odd) and 0 not in even:
        return "utf-16-le"  # ASCII text in UTF-16 without a byte-order mark
    if len(head) >= 4 and even.count(0) == len(even) and 0 not in odd:
        return "utf-16-be"
    if 0 in head:
        raise UserError(BINARY)
    return "utf-8"


def decode(content: bytes) -> str:
    """CSV bytes as text, in the encoding `encoding` finds; undecodable bytes become U+FFFD."""
    return content.decode(encoding(content[:4096]), "replace")


def standardise(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std per column, as float32; a column without spread is a UserError.

    Each column is first divided by its largest |value|, which changes nothing in the result
    but keeps the moments finite for values near 1e308 and resolves spreads at any scale (1e-13).
    """
    scale = np.abs(x).max(0)
    x = x / np.where(scale > 0, scale, 1.0)
    std = x.std(0)
    if (std <= CONSTANT).any():
        raise UserError("the CSV points do not spread in both x and y (a column is constant)")
    return ((x - x.mean(0)) / std).astype(np.float32)


def load_csv(content: str | bytes, name: str = "csv", seed: int = 0, max_rows: int = MAX_ROWS) -> Dataset:
    """Points from CSV text or bytes, standardised to zero mean and unit std per column."""
    text = decode(content) if isinstance(content, bytes) else content.removeprefix("\ufeff")
    return _dataset(parse_points(io.StringIO(text, newline=None), max_rows), name, seed)  # \r, \r\n or \n


def load_csv_file(path: str, seed: int = 0, max_rows: int = MAX_ROWS) -> Dataset:
    """`load_csv` on a file, read line by line to its end; a missing or unreadable file is a UserError."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            f.seek(0)
            with io.TextIOWrapper(f, encoding(head), errors="replace") as text:
                return _dataset(parse_points(text, max_rows), path, seed)
    except OSError as e:
        raise UserError(f"cannot read CSV file {path!r}: {e.strerror}") from e


def _dataset(x: np.ndarray, name: str, seed: int) -> Dataset:
    x = standardise(x)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, len(x) // 10)
    return Dataset(name, "dataset-2d", x[order[n_test:]], x[order[:n_test]], (2,))
