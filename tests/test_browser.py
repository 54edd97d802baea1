"""One real browser: start the server, press Train in headless Chromium, see the step and heatmap change."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

STEP = re.compile(r"^step \d+$")
pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "playground" / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def heatmap_z(page):
    return page.evaluate("() => JSON.stringify(document.querySelector('.js-plotly-plot').data[0].z)")


def step_number(page) -> int:
    return int(page.locator("strong", has_text=STEP).first.inner_text().split()[1])


def eventually(condition, timeout: float = 90.0) -> bool:
    """Poll the page: a busy CPU slows training and redraws, never the outcome."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_train_in_a_real_browser(server):
    if CHROMIUM is None:
        pytest.skip("no Chromium found: install it with `apt-get update && apt-get install -y chromium` "
                    "(or set CHROMIUM=/path/to/chromium) to run the browser test")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server)
            expect(page.locator("strong", has_text=STEP).first).to_have_text("step 0", timeout=90_000)
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            before = heatmap_z(page)
            assert "data=moons" in page.url and "model=realnvp" in page.url
            page.get_by_role("button", name="Train").click()
            assert eventually(lambda: step_number(page) >= 20)
            first = step_number(page)
            assert eventually(lambda: step_number(page) > first)  # the page keeps refreshing while it trains
            assert eventually(lambda: heatmap_z(page) != before)  # and the density heatmap is redrawn
        finally:
            browser.close()
