"""Say so when Streamlit drops a share URL's query string.

Streamlit (`streamlit.runtime.state.query_params.sanitize_query_string`) ignores a query
string over 512 Ki characters or 1,000 fields, with only a line in the server's log: the
page would open with the defaults and nobody would know why. `install` wraps the call the
session makes on each rerun request so that such a query string becomes one marker
parameter, `url.dropped=<characters>,<fields>`, which `dropped` turns into the page's warning.
"""

from __future__ import annotations

from urllib.parse import urlencode

from streamlit.runtime import app_session
from streamlit.runtime.state import query_params

DROPPED = "url.dropped"  # holds a '.', so neither the sidebar's setup nor a compared run reads it


def marked(query_string: str) -> str:
    """Streamlit's sanitised query string, or the marker where Streamlit would drop it whole."""
    kept = query_params.sanitize_query_string(query_string)
    if query_string and not kept:
        return urlencode({DROPPED: f"{len(query_string)},{query_string.count('&') + 1}"})
    return kept


def install() -> None:
    """Route the session's rerun requests through `marked` (once per process; idempotent)."""
    app_session.sanitize_query_string = marked


def dropped(query: dict[str, str]) -> list[str]:
    """The warning for a dropped query string, if the URL carries the marker."""
    if DROPPED not in query:
        return []
    chars, _, fields = query[DROPPED].partition(",")
    size = f"{int(chars):,} characters long with {int(fields):,} settings" if (
        chars.isdigit() and fields.isdigit() and len(chars + fields) < 20) else "too long"
    return [f"it was {size}, over the {query_params.CLIENT_STATE_QUERY_STRING_MAX_LENGTH:,} characters and "
            f"{query_params.CLIENT_STATE_QUERY_STRING_MAX_FIELDS:,} settings Streamlit reads, so it was ignored"]
