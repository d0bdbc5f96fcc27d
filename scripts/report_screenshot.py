"""A headless-Chromium picture of the latest retention report, for the README.

    .venv/bin/python scripts/report_screenshot.py [--out docs/report.png]

Run `make demo` first (it writes the report under data/reports/). Needs Debian's
`chromium` package. The page is opened from its file: nothing is fetched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devkit.screenshot import screenshot  # noqa: E402
from nurture.config import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--height", type=int, default=2600, help="pixels of the page to keep")
    args = parser.parse_args()
    reports = sorted((load_settings().home / "reports").glob("retention-report-*.html"))
    if not reports:
        sys.exit("no report yet: run `make demo` (or `nurture report --date ...`) first")
    path = screenshot(reports[-1].resolve().as_uri(), args.out, width=1400, height=args.height)
    print(f"screenshot of {reports[-1]}: {path}")


if __name__ == "__main__":
    main()
