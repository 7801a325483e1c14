"""Importing mlx-lm without letting it lower the process's open-file limit."""

from __future__ import annotations

import resource


def import_mlx_lm() -> None:
    """Import mlx-lm without letting it lower the open-file limit.

    ``mlx_lm.utils`` calls ``setrlimit(RLIMIT_NOFILE, (2048, 4096))`` when imported (for models
    of many files), which lowers the hard limit too, and a lowered hard limit cannot be raised
    again without root: the server would be stuck at 2,048 descriptors (one per connection).
    No option turns that off, so its call is filtered while it is imported: raising is let
    through, lowering is not.
    """
    original = resource.setrlimit

    def never_lower(which: int, limits: tuple[int, int]) -> None:
        if which == resource.RLIMIT_NOFILE:
            soft, hard = resource.getrlimit(which)
            if _below(limits[0], soft) or _below(limits[1], hard):
                return
        original(which, limits)

    resource.setrlimit = never_lower
    try:
        import mlx_lm.utils  # noqa: F401  (imported for its side effect, filtered)
    finally:
        resource.setrlimit = original


def _below(new: int, current: int) -> bool:
    """Whether the limit ``new`` is lower than ``current`` (``RLIM_INFINITY`` is the highest)."""
    infinity = resource.RLIM_INFINITY
    if new == infinity:
        return False
    return current == infinity or new < current
