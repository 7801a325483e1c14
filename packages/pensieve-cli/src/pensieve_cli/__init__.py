"""pensieve_cli: the ``pensieve`` command line.

Depends on core and loader only; it reaches the engine and the server through the ``Launcher``
port that the application implements, so it never imports MLX or the web stack.
"""

from pensieve_cli.launcher import GroupSpec, Launcher
from pensieve_cli.main import build_cli
from pensieve_cli.schema import SettingSpec, specs_of
from pensieve_cli.settings import Settings, resolve

__all__ = ("GroupSpec", "Launcher", "SettingSpec", "Settings", "build_cli", "resolve", "specs_of")
