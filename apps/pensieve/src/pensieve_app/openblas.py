"""Use Debian's OpenBLAS for MLX's CPU backend when it is installed.

The Linux ``mlx-cpu`` wheel ships a slow reference BLAS; OpenBLAS makes float32 matrix products
about 15 times faster (5.6 -> 85 GFLOPS for 1024x1024 on 2 cores). Loaded into the process's global
symbol scope before MLX is imported, its ``cblas_*`` functions take the place of MLX's own, as
``LD_PRELOAD`` would, but without re-executing the process (which cost a second interpreter start
and import pass at every ``pensieve start``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
)
THREAD_TIMEOUT = ("OPENBLAS_THREAD_TIMEOUT", "4")
"""OpenBLAS's idle threads spin on ``sched_yield`` for 2**28 cycles (its default of 28) before
they sleep. Between MLX's matrix products that spinning takes the cores MLX's other kernels and the
server's own thread need: a third of a prefill's CPU time went to the kernel on 2 cores. With 2**4
they sleep at once; measured on Qwen2.5-Coder-0.5B (float32, 2 cores): prefill 96 -> 109 tok/s,
decode 5.0 -> 6.1 tok/s. A value the user set is kept."""


def find_openblas() -> str | None:
    """The OpenBLAS library to load, if any."""
    return next((c for c in CANDIDATES if Path(c).is_file()), None)


def loaded() -> bool:
    """Whether OpenBLAS is mapped into this process (preloaded or loaded here)."""
    maps = Path("/proc/self/maps")
    return maps.is_file() and "libopenblas" in maps.read_text()


def load_openblas() -> None:
    """Load OpenBLAS globally before MLX is imported (Linux, when installed and not disabled)."""
    if not sys.platform.startswith("linux") or os.environ.get("PENSIEVE_NO_OPENBLAS"):
        return
    library = find_openblas()
    # Once MLX is loaded its BLAS calls are bound to its own (measured: no speed-up after).
    if library is None or loaded() or "mlx.core" in sys.modules:
        return
    os.environ.setdefault(*THREAD_TIMEOUT)  # read by OpenBLAS when it loads: set first
    ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)


def describe() -> str:
    """One line for the start banner."""
    if not sys.platform.startswith("linux"):
        return "n/a (not Linux)"
    if loaded():
        return "OpenBLAS (fast float32 on the CPU)"
    if os.environ.get("PENSIEVE_NO_OPENBLAS"):
        return "disabled by PENSIEVE_NO_OPENBLAS"
    return "not installed: apt-get install libopenblas0-pthread for faster CPU inference"
