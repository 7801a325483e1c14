"""OpenBLAS loaded in-process before MLX: MLX's float32 products run on it, threads told to sleep."""

import os
import subprocess
import sys

import pytest

from pensieve_app import openblas

PROBE = """
import os, time
from pensieve_app import openblas
openblas.load_openblas()
import mlx.core as mx
a = mx.random.normal((512, 512)); mx.eval(a @ a)
started = time.perf_counter()
for _ in range(20): mx.eval(a @ a)
print(time.perf_counter() - started, openblas.loaded(), os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
"""


def _probe(**env: str) -> tuple[float, bool, str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "OPENBLAS_THREAD_TIMEOUT")
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, loaded, timeout = done.stdout.split()
    return float(seconds), loaded == "True", timeout


@pytest.mark.skipif(openblas.find_openblas() is None, reason="OpenBLAS is not installed here")
def test_mlx_multiplies_on_openblas_loaded_in_process() -> None:
    fast, loaded, timeout = _probe()
    slow, unloaded, _ = _probe(PENSIEVE_NO_OPENBLAS="1")
    assert loaded
    assert not unloaded
    assert timeout == "4"
    assert fast * 3 < slow, (fast, slow)


@pytest.mark.skipif(openblas.find_openblas() is None, reason="OpenBLAS is not installed here")
def test_a_thread_timeout_the_user_set_is_kept() -> None:
    assert _probe(OPENBLAS_THREAD_TIMEOUT="12")[2] == "12"
