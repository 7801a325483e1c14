"""How ``mlx.launch`` and Pensieve's launcher tell a process it is one rank of a group.

Read without importing MLX (the app checks it before anything heavy loads).
"""

from __future__ import annotations

import os
from typing import Final

CONTROL_ENV: Final = "PENSIEVE_CONTROL"
"""``HOST:PORT`` where rank 0 listens for its followers (set for every rank by the launcher)."""
PARALLEL_ENV: Final = "PENSIEVE_PARALLEL"
"""``auto``, ``tensor`` or ``pipeline``."""
BACKEND_ENV: Final = "PENSIEVE_BACKEND"
"""The ``mx.distributed`` backend: ``ring``, ``jaccl``, ``nccl`` (``any``: MLX picks)."""


def default_backend() -> str:
    """NCCL where MLX runs on CUDA, else the ring (TCP: CPUs and Macs)."""
    import mlx.core as mx

    return "nccl" if mx.cuda.is_available() else "ring"


def launched_rank() -> int | None:
    """This process's rank when ``pensieve start`` launched it into a group, else None."""
    rank = os.environ.get("MLX_RANK")
    if rank is None or CONTROL_ENV not in os.environ:
        return None
    return int(rank)
