"""`python -m playground.screenshots [--out DIR] [--seconds S] [PAGE ...]`: one screenshot per family page.

Starts the app on a free local port, opens each page in headless Chromium (system
Chromium, `$CHROMIUM` or `chromium` on the PATH, through Playwright), presses Train, lets
it train for a few seconds, and saves a full-page PNG per page (`assets/screenshot-<page>.png`
by default, the README's pictures). It also prints how many WebGL contexts each page asked
for and how many "Too many active WebGL contexts" warnings it logged (both should be 0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "flow": "data=moons&model=realnvp",
    "vae": "data=digits&model=vae",
    "gan": "data=8gaussians&model=nsgan",
    "diffusion": "data=8gaussians&model=flow-matching",
}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
COUNT_WEBGL = """
window.__webgl = 0;
const getContext = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
  if (String(kind).startsWith("webgl") || kind === "experimental-webgl") window.__webgl += 1;
  return getContext.call(this, kind, ...rest);
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "playground" / "app.py"), "--server.headless",
           "true", "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the app did not start within 60 s")


@contextmanager
def app_and_browser():
    """The app on a free local port and headless system Chromium (Playwright): (browser, the app's base URL)."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no Chromium found: `apt-get install -y chromium`, or set CHROMIUM=/path/to/chromium")
    from playwright.sync_api import sync_playwright

    port = free_port()
    app = start_app(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
            try:
                yield browser, f"http://127.0.0.1:{port}"
            finally:
                browser.close()
    finally:
        app.terminate()
        app.wait(timeout=10)


def shoot(browser, url: str, path: Path, seconds: float) -> tuple[int, int]:
    """Train `seconds` on the page at `url`, save a full-page screenshot; (WebGL contexts, lost-context warnings)."""
    page = browser.new_page(viewport={"width": 1500, "height": 2000})  # the app scrolls inside: a tall window
    page.add_init_script(COUNT_WEBGL)
    warnings = []
    page.on("console", lambda m: warnings.append(m.text) if "Too many active WebGL contexts" in m.text else None)
    try:
        page.goto(url)
        page.get_by_role("button", name="Train").click(timeout=90_000)
        time.sleep(seconds)
        page.screenshot(path=str(path), full_page=True)
        return page.evaluate("window.__webgl"), len(warnings)
    finally:
        page.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playground.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help=f"pages to shoot, of {', '.join(PAGES)} (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "assets", help="folder for screenshot-<page>.png")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of training before the screenshot")
    args = parser.parse_args(argv)
    if unknown := set(args.pages) - set(PAGES):
        parser.error(f"unknown page(s) {', '.join(sorted(unknown))}; pick from {', '.join(PAGES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    with app_and_browser() as (browser, base):
        for name in args.pages or PAGES:
            path = args.out / f"screenshot-{name}.png"
            contexts, lost = shoot(browser, f"{base}/?{PAGES[name]}", path, args.seconds)
            print(f"{name}: {path} · WebGL contexts {contexts} · lost-context warnings {lost}")


if __name__ == "__main__":
    main()
