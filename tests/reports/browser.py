"""Open an HTML report in real headless Chromium: how many images it shows, how many are
broken, and a screenshot. A helper for the report tests, which skip without Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

FALLBACK: Final = "/usr/bin/chromium"
TIMEOUT_S: Final = 120.0
WINDOW: Final = "1200,3000"

PROBE: Final = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; });
  document.title = "imgs=" + images.length + " broken=" + broken.length;
});
</script>
"""
"""Injected before ``</body>``: once the page has loaded, the title says what the images did."""
TITLE: Final = re.compile(r"<title>imgs=(\d+) broken=(\d+)</title>")


def chromium() -> str | None:
    """The Chromium executable, or ``None`` where there is none."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return FALLBACK if os.access(FALLBACK, os.X_OK) else None


def _run(tmp_path: Path, *flags: str) -> str:
    browser = chromium()
    assert browser is not None, "no Chromium: skip the test before calling render()"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *flags,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, f"{command} exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def render(html_path: Path, tmp_path: Path) -> tuple[int, int, Path]:
    """``(images, broken images, screenshot PNG)`` of the page ``html_path`` in Chromium.

    The page is copied into ``tmp_path`` with ``PROBE`` injected; Chromium loads it (with 5 s
    of virtual time for everything to load and decode) and dumps the DOM, whose title then
    holds the counts; a second run takes a 1200 x 3000 screenshot of the same copy.
    """
    text = html_path.read_text(encoding="utf-8")
    assert "</body>" in text, f"{html_path} has no </body>"
    probe = tmp_path / f"probe-{html_path.name}"
    probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    dom = _run(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    found = TITLE.search(dom)
    assert found is not None, f"the probe did not run: {dom[:500]!r}"
    screenshot = tmp_path / f"{html_path.stem}.png"
    _run(tmp_path, f"--screenshot={screenshot}", f"--window-size={WINDOW}", probe.as_uri())
    assert screenshot.is_file(), f"Chromium wrote no screenshot {screenshot}"
    return int(found.group(1)), int(found.group(2)), screenshot
