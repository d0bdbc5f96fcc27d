"""The documentation site (mkdocs.yml, docs/) and the README that leads to it.

The site builds with `mkdocs build --strict` (what `make docs` runs): a broken link
between pages, a missing anchor or a page left out of the nav fails it. Every Markdown
page under docs/ is in the nav and reachable by links from the README; the README stays
under 200 lines and each of its relative links points at a file of the repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
MKDOCS_YML = REPO_ROOT / "mkdocs.yml"
README_MAX_LINES = 200

# A Markdown link or image: [text](target) or [text](target "title").
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


class _MkdocsLoader(yaml.SafeLoader):
    """A safe loader that reads mkdocs.yml's ``!!python/name:`` tags as plain strings."""


_MkdocsLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix)


def relative_links(markdown: str) -> list[str]:
    """The link targets that are files of the repository: no URL, no bare #anchor, anchors cut off."""
    targets = []
    for target in LINK.findall(markdown):
        if target.startswith("#") or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def nav_pages(nav: object) -> set[str]:
    """Every page path in a mkdocs nav (nested lists of {title: page or sections})."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(nav_pages(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(nav_pages(value) for value in nav.values()))
    return set()


def test_the_site_builds_with_strict_checks(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}\n{result.stdout}"
    assert (site / "index.html").is_file()


def test_the_readme_stays_short() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


def test_every_relative_link_of_the_readme_points_at_a_file() -> None:
    targets = relative_links(README.read_text(encoding="utf-8"))
    assert targets, "README.md links to no file: the docs pages should be linked"
    missing = [target for target in targets if not (REPO_ROOT / target).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.load(MKDOCS_YML.read_text(encoding="utf-8"), Loader=_MkdocsLoader)
    assert Path(config.get("docs_dir", "docs")) == Path("docs")
    in_nav = nav_pages(config["nav"])
    pages = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")}
    assert not pages - in_nav, f"pages missing from mkdocs.yml's nav: {sorted(pages - in_nav)}"
    assert not in_nav - pages, f"nav entries without a page: {sorted(in_nav - pages)}"


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    """What moved out of the README stays findable from it, following links page to page."""
    seen: set[Path] = set()
    todo = [README.resolve()]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for target in relative_links(page.read_text(encoding="utf-8")):
            linked = (page.parent / target).resolve()
            if linked.suffix == ".md" and linked.is_file():
                todo.append(linked)
    pages = {page.resolve() for page in DOCS.rglob("*.md")}
    unreachable = sorted(str(page.relative_to(REPO_ROOT)) for page in pages - seen)
    assert not unreachable, f"docs pages no link from README.md leads to: {unreachable}"
