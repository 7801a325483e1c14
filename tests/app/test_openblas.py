"""The OpenBLAS re-exec: preloaded once, with its idle threads told to sleep rather than spin."""

import sys
from typing import Any

import pytest

from pensieve_app import openblas


def _reexec(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, str]:
    for key in ("LD_PRELOAD", openblas.MARKER, "PENSIEVE_NO_OPENBLAS", "OPENBLAS_THREAD_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(openblas, "find_openblas", lambda: "/usr/lib/libopenblas.so.0")
    seen: dict[str, Any] = {}

    def execve(path: str, argv: list[str], environment: dict[str, str]) -> None:
        seen.update(environment)

    monkeypatch.setattr(openblas.os, "execve", execve)
    openblas.reexec_with_openblas()
    return seen


def test_the_reexec_preloads_openblas_with_a_short_thread_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _reexec(monkeypatch)
    assert env["LD_PRELOAD"] == "/usr/lib/libopenblas.so.0"
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "4"
    assert env[openblas.MARKER] == "1"


def test_a_thread_timeout_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _reexec(monkeypatch, OPENBLAS_THREAD_TIMEOUT="12")["OPENBLAS_THREAD_TIMEOUT"] == "12"
