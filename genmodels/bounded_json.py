"""JSON from a user (an uploaded config, a checkpoint's metadata), parsed within bounds or refused.

Its size is checked before parsing; nesting deeper than Python's recursion limit and integers
longer than Python's 4,300-digit limit, which `json` reports as RecursionError and ValueError,
become UserErrors that say what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import UserError

MAX_JSON_CHARS = 100_000  # a config or a checkpoint's setup is a few hundred characters


def loads(text: str | bytes, what: str, max_chars: int = MAX_JSON_CHARS) -> Any:
    """json.loads(text), or a UserError naming `what` ("config.json") and the problem."""
    if len(text) > max_chars:
        raise UserError(f"{what} is {len(text):,} characters long; a genmodels setup needs at most {max_chars:,}")
    try:
        return json.loads(text)
    except RecursionError:
        raise UserError(f"{what} is nested too deeply to be a genmodels setup") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{what} is not JSON") from None
    except ValueError as e:  # only the digit limit of int() remains
        raise UserError(f"{what} has a number with too many digits ({str(e).split(':')[0]})") from None
