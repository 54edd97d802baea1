"""Family -> view. A view draws that family's figures from a Snapshot inside the live fragment."""

from __future__ import annotations

from . import flow

VIEWS = {
    "flow": flow.draw,
}
