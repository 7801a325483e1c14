"""Use Debian's OpenBLAS for MLX's CPU backend when it is installed.

The Linux ``mlx-cpu`` wheel ships a slow reference BLAS; preloading OpenBLAS makes float32 matrix
products several times faster. ``LD_PRELOAD`` only works at process start, so the launcher
re-executes itself once with it set.
"""

from __future__ import annotations

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
MARKER = "PENSIEVE_OPENBLAS"
"""Set by the re-exec: ``1`` when preloaded, ``0`` when unavailable or disabled."""


def find_openblas() -> str | None:
    """The OpenBLAS library to preload, if any."""
    return next((c for c in CANDIDATES if Path(c).is_file()), None)


def preloaded() -> bool:
    """Whether this process runs with OpenBLAS preloaded."""
    return "libopenblas" in os.environ.get("LD_PRELOAD", "")


def reexec_with_openblas() -> None:
    """Re-execute the current command with OpenBLAS preloaded (Linux, once, when available)."""
    if not sys.platform.startswith("linux") or preloaded() or MARKER in os.environ:
        return
    if os.environ.get("PENSIEVE_NO_OPENBLAS"):
        return
    library = find_openblas()
    env = dict(os.environ)
    if library is None:
        env[MARKER] = "0"
        os.environ.update(env)
        return
    env["LD_PRELOAD"] = f"{library}:{env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else library
    env.setdefault(*THREAD_TIMEOUT)
    env[MARKER] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "pensieve_app", *sys.argv[1:]], env)


def describe() -> str:
    """One line for the start banner."""
    if not sys.platform.startswith("linux"):
        return "n/a (not Linux)"
    if preloaded():
        return "OpenBLAS preloaded (fast float32 on the CPU)"
    if os.environ.get("PENSIEVE_NO_OPENBLAS"):
        return "disabled by PENSIEVE_NO_OPENBLAS"
    return "not installed: apt-get install libopenblas0-pthread for faster CPU inference"
