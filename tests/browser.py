"""Pages opened in a real browser: headless Chromium, as the people who read them would.

``root_attributes`` loads a page, lets its scripts run, and returns the attributes of its
root element: scripts (a test's probe, or a payload that should never run) leave what they
found there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def chromium() -> str:
    """Path of a Chromium to run headless; skips without one, except under CI where it fails."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "Chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must check the pages in a browser", pytrace=False)
    pytest.skip(reason)


def root_attributes(page: Path, width: int = 1280, height: int = 900, flags: tuple[str, ...] = ()) -> dict[str, str]:
    """The attributes of ``page``'s root element after it loaded in headless Chromium at ``width`` x ``height``."""
    with tempfile.TemporaryDirectory(prefix="leadscore-chromium-") as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "--virtual-time-budget=3000",
             *flags, "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<html" in done.stdout, f"Chromium could not open {page}:\n{done.stderr[-2000:]}"
    root = done.stdout[done.stdout.index("<html"):]
    root = root[:root.index(">")]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', root))


def framed_attributes(page: Path, width: int, height: int = 900) -> dict[str, str]:
    """``page`` in a frame ``width`` px wide (a phone: headless Chromium's own window is at least 500 px), and the
    attributes its scripts set on the top page's root element (``top.document.documentElement``)."""
    with tempfile.TemporaryDirectory(prefix="leadscore-frame-") as folder:
        frame = Path(folder) / "frame.html"
        frame.write_text(f'<!doctype html><html><body style="margin:0"><iframe src="{page.resolve().as_uri()}" '
                         f'width="{width}" height="{height}" style="border:0"></iframe></body></html>', encoding="utf-8")
        return root_attributes(frame, width=max(width, 800), height=height,
                               flags=("--allow-file-access-from-files",))
