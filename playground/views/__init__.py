"""Family -> view. A view draws that family's figures from a Snapshot inside the live fragment; a family's
`BESIDE` entry draws what does not change with training, once per page run, below the fragment."""

from __future__ import annotations

from . import diffusion, flow, gan, vae

VIEWS = {
    "flow": flow.draw,
    "vae": vae.draw,
    "gan": gan.draw,
    "diffusion": diffusion.draw,
    "energy": diffusion.draw,
}

BESIDE = {
    "vae": vae.draw_beside,
}
