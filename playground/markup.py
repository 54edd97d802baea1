"""User text inside Streamlit markdown (captions, errors, warnings), shown as typed.

Streamlit renders markdown: an energy `x1**2 + x2**2` would come out with a bold "2 + x2",
and a file name with `_` or `[...](...)` as italics or a link. `code` shows text as inline
code (a formula); `plain` escapes every markdown character (names and messages).
"""

from __future__ import annotations

import re

MARKDOWN = re.compile(r"([\\`*_\[\]<>$~:|])")  # what changes a line of inline markdown


def code(text: str) -> str:
    """Inline code, fenced by one more backtick than the longest run of backticks inside."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def plain(text: str) -> str:
    """Every markdown character backslash-escaped: the text reads as typed."""
    return MARKDOWN.sub(r"\\\1", text)
