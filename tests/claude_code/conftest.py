"""The real Claude Code CLI, installed from the npm registry into a cache outside the repo."""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import API_KEY, pensieve_server

CLAUDE_CODE_VERSION = "2.1.331"
"""The version the recordings in tests/fixtures/claude-code/ come from."""


def _cache_dir() -> Path:
    root = os.environ.get("PENSIEVE_TEST_CACHE") or Path.home() / ".cache" / "pensieve-tests"
    return Path(root) / f"claude-code-{CLAUDE_CODE_VERSION}"


@pytest.fixture(name="claude_bin", scope="session")
def _claude_bin(pytestconfig: pytest.Config) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip(
            "Node.js/npm not found: the real Claude Code suite needs them (CI machines have them)"
        )
    prefix = _cache_dir()
    binary = prefix / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        line = (
            f"downloading Claude Code {CLAUDE_CODE_VERSION} from the npm registry into {prefix} "
            "(once; PENSIEVE_TEST_CACHE moves the cache)"
        )
        if reporter is not None:
            reporter.write_line(line)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.startswith(CLAUDE_CODE_VERSION)
    return binary


# Claude Code sends no temperature and asks for 32000 tokens: decode greedily (deterministic, and
# the small model copies paths exactly) and cap answers, so every run is short and repeatable.
BOUNDED = ("--set", "server.default-temperature=0", "--set", "engine.max-output-tokens=200")


@pytest.fixture(name="claude_server", scope="session")
def _claude_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server the Claude Code runs talk to (default tool grammar)."""
    with pensieve_server(tmp_path_factory.mktemp("claude"), *BOUNDED) as url:
        yield url


@pytest.fixture(name="always_server", scope="session")
def _always_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose engine must answer a request with tools by calling one (tool-grammar=always)."""
    always = ("--set", "engine.tool-grammar=always")
    with pensieve_server(tmp_path_factory.mktemp("always"), *BOUNDED, *always) as url:
        yield url


class Claude:
    """Runs ``claude -p`` with a fresh HOME against one server."""

    def __init__(self, binary: Path, url: str, home: Path, cwd: Path) -> None:
        self.binary, self.url, self.home, self.cwd = binary, url, home, cwd

    def run(self, *args: str, timeout: float = 300) -> Any:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": API_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
        }
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if "stream-json" in args:
            return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        assert result.stdout.strip(), result.stderr
        return json.loads(result.stdout)


def tool_uses(messages: list[Any]) -> list[Any]:
    """The ``tool_use`` blocks of the assistant messages in Claude Code's stream-json output."""
    return [
        block
        for m in messages
        if m.get("type") == "assistant"
        for block in m["message"]["content"]
        if block["type"] == "tool_use"
    ]


def tool_results(messages: list[Any]) -> list[Any]:
    """The ``tool_result`` blocks Claude Code sent back, from its stream-json output."""
    return [
        block
        for m in messages
        if m.get("type") == "user"
        for block in m["message"]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


@pytest.fixture(name="workdir")
def _workdir(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path


@pytest.fixture(name="claude")
def _claude(claude_bin: Path, claude_server: str, workdir: Path) -> Claude:
    return Claude(claude_bin, claude_server, workdir / "home", workdir / "work")
