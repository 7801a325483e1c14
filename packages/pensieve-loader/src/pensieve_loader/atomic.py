"""Write a directory so that it appears whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_directory(destination: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``destination``; rename it into place on success.

    On any error the temporary directory is removed, so no half-written model is left behind.
    An existing ``destination`` is replaced only after the new one is complete.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent)
    )
    try:
        yield tmp
        if destination.exists():
            old = destination.with_name(f".{destination.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(destination, old)
            os.rename(tmp, destination)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
