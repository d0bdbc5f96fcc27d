"""A headless-Chromium screenshot of a page, for the README's pictures (Debian's
`chromium` package; the flags keep it off the network but for the page itself)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=20000",
]  # fmt: skip


def screenshot(url: str, path: Path, width: int = 1600, height: int = 1000) -> Path:
    """Save ``url`` (http:// or file://) as a PNG of ``width`` x ``height`` pixels."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise SystemExit("chromium not found: install Debian's `chromium` package (apt-get install chromium)")
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = path.parent / ".chromium-profile"
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}",
         f"--screenshot={path.resolve()}", url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    shutil.rmtree(profile, ignore_errors=True)
    return path
