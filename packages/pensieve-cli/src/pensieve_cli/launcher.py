"""The port the CLI needs from the application: the CLI defines it, the app implements it.

Keeping heavy work behind this protocol is what lets ``pensieve --help`` start without MLX.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pensieve_cli.schema import SettingSpec
from pensieve_cli.settings import Settings


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One model served by several processes: ``--ranks N`` here, or a ``--distributed`` hostfile."""

    ranks: int = 0
    hostfile: Path | None = None
    parallel: str = "auto"
    """``auto`` (tensor where the model splits by heads, else pipeline), ``tensor``, ``pipeline``."""
    backend: str = ""
    """``mx.distributed``'s backend (``ring``, ``jaccl``, ``nccl``; empty: the hostfile's, else
    NCCL on CUDA and the ring elsewhere)."""


class Launcher(Protocol):
    """Runs the heavy commands on the CLI's behalf."""

    def settings(self) -> Sequence[SettingSpec]:
        """Every configuration key, with its type and default."""
        ...

    def serve(self, settings: Settings) -> None:
        """Load the model and serve until interrupted."""
        ...

    def serve_group(self, settings: Settings, group: GroupSpec, rank_argv: list[str]) -> None:
        """Serve through a group of ranks, each running ``rank_argv``; until interrupted."""
        ...

    def runtime_precision(self, quantization: str) -> str:
        """How weights stored as ``quantization`` are held on this machine."""
        ...

    def check_loadable(self, model_dir: Path) -> str:
        """Load the model to prove it runs; a one-line description, or a ``PensieveError``."""
        ...

    def command(self) -> list[str]:
        """The argv prefix that runs ``pensieve`` in a child process."""
        ...
