"""Atomic writes: a reader sees the old file (or folder) or the new one, never a mix."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def replace_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary sibling of ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    write(tmp)
    os.replace(tmp, path)


def new_work_folder(final: Path) -> Path:
    """An empty hidden sibling of ``final`` to build it in (see :func:`swap_folder`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
    work.mkdir()
    return work


def swap_folder(work: Path, final: Path) -> None:
    """Put a finished folder in place of the old one: two renames, never a mix."""
    if final.exists():
        old = final.parent / f".{final.name}.{uuid.uuid4().hex}.old"
        os.rename(final, old)
        os.rename(work, final)
        shutil.rmtree(old)
    else:
        os.rename(work, final)
