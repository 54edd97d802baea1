"""Family -> view. A view draws that family's figures from a Snapshot inside the live fragment."""

from __future__ import annotations

from playground.views import flow, gan, vae

VIEWS = {
    "flow": flow.draw,
    "vae": vae.draw,
    "gan": gan.draw,
}
