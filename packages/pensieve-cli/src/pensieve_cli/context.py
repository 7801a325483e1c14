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
from pensieve_core import ConfigError


@dataclass(slots=True)
class CliContext:
    """Passed to commands as ``ctx.obj``."""

    launcher: Launcher
    config_path: Path
    debug: bool = False
    config_explicit: bool = False
    """Named by ``--config``: then it must exist (a default location may be absent)."""

    def settings(self, flags: Mapping[str, Any] | None = None) -> Settings:
        """Settings resolved with ``flags`` on top."""
        if self.config_explicit and not self.config_path.is_file():
            raise ConfigError(
                f"config file {self.config_path} does not exist "
                "(`pensieve --config FILE config init` creates one)",
                source=str(self.config_path),
            )
        return resolve(self.launcher.settings(), self.config_path, flags=flags)

    def pid_file(self) -> PidFile:
        """The PID file in the state directory."""
        return PidFile(state_dir())


pass_cli = click.make_pass_decorator(CliContext)
