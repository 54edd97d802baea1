"""Helpers shared by the AppTest suites: read the status lines and the URL, and poll until a condition holds."""

from __future__ import annotations

import base64
import html
import io
import re
import time

from PIL import Image
from streamlit.testing.v1 import AppTest

PNG = re.compile(r'<img class="live-picture"[^>]*src="data:image/png;base64,([^"]+)"')
CAPTION = re.compile(r'<img class="live-picture".*?<figcaption>(.*?)</figcaption>', re.S)
TAG = re.compile(r"<[^>]+>")


def statuses(at: AppTest) -> list[str]:
    """Every run's status line (`**step N** · ...`), first run first."""
    return [m.value for m in at.markdown if "**step " in m.value]


def pictures(at: AppTest) -> list[str]:
    """The captions of the page's live pictures (inline PNGs, `playground.memo.row`) as text, in page order."""
    return [html.unescape(TAG.sub("", c)) for h in at.get("html") for c in CAPTION.findall(h.proto.body)]


def picture_images(at: AppTest) -> list[Image.Image]:
    """The page's live pictures themselves, decoded, in page order."""
    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB") for h in at.get("html")
            for b in PNG.findall(h.proto.body)]


def query(at: AppTest) -> dict[str, str]:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def wait_until(at: AppTest, predicate, timeout: float = 90.0) -> None:
    """Rerun the script until `predicate()` holds: training runs in a thread beside the test."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out; the page says {statuses(at)}")
