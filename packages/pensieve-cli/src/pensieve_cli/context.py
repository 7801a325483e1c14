"""What every command shares: the launcher, the config file and the resolved settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pensieve_cli.launcher import Launcher
from pensieve_cli.paths import state_dir
from pensieve_cli.pidfile import PidFile
from pensieve_cli.settings import Settings, resolve


@dataclass(slots=True)
class CliContext:
    """Passed to commands as ``ctx.obj``."""

    launcher: Launcher
    config_path: Path
    debug: bool = False

    def settings(self, flags: Mapping[str, Any] | None = None) -> Settings:
        """Settings resolved with ``flags`` on top."""
        return resolve(self.launcher.settings(), self.config_path, flags=flags)

    def pid_file(self) -> PidFile:
        """The PID file in the state directory."""
        return PidFile(state_dir())


pass_cli = click.make_pass_decorator(CliContext)
