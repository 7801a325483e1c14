"""``pensieve claude``: run Claude Code against this server, or write its settings.

What Claude Code 2.1.331 reads (checked in its binary): ``CLAUDE_CODE_MAX_CONTEXT_TOKENS`` sets the
context window only for model names it does not know (a ``claude-*`` name keeps 200k), so the
served model's own name goes into ``ANTHROPIC_MODEL`` and the haiku/sonnet/opus defaults. It
reserves ``min(max output tokens, 20000)`` of the window and compacts 13,000 tokens before the
rest fills up, so with its default 32,000 output tokens a 32k window would compact on every turn:
``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` is set to an eighth of the window.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from pensieve_cli.claude_capture import capture_first_request
from pensieve_cli.commands.server import running_server
from pensieve_cli.context import CliContext, pass_cli
from pensieve_core import base_url

AUTO_COMPACT_BUFFER = 13_000
"""Tokens before the window's end at which Claude Code compacts."""
FULL_PROMPT_TOKENS = 12_000
"""About what Claude Code's full system prompt and tool schemas take (recorded)."""
MODEL_VARIABLES = (
    "ANTHROPIC_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
)
"""The main model and every tier Claude Code picks from (haiku reads SMALL_FAST first)."""
FAST_VARIABLES = ("ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_SMALL_FAST_MODEL")
"""The tiers a served fast model takes."""
MANAGED = (
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
    *MODEL_VARIABLES,
    "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_TELEMETRY",
    "DISABLE_AUTOUPDATER",
)
"""Every key ``--write`` may set, so ``--remove`` takes exactly these back out."""


@dataclass(frozen=True, slots=True)
class Target:
    """The server Claude Code should talk to."""

    url: str
    api_key: str
    model: str | None = None
    """The served model's name (known only when a server runs)."""
    context_length: int | None = None
    fast_model: str | None = None
    """The served model marked fast, when the server serves one: Claude Code's haiku tier."""


def output_tokens_for(window: int) -> int:
    """Output tokens to ask for: an eighth of the window, within Claude Code's own bounds."""
    return max(1024, min(20_000, window // 8))


def claude_env(target: Target) -> dict[str, str]:
    """The environment Claude Code needs to use this server."""
    env = {"ANTHROPIC_BASE_URL": target.url, "ANTHROPIC_API_KEY": target.api_key}
    if target.model:
        env |= dict.fromkeys(MODEL_VARIABLES, target.model)
    if target.fast_model:
        # Subagents with `model: haiku`, titles and summaries go to the small fast model.
        env |= dict.fromkeys(FAST_VARIABLES, target.fast_model)
    if target.context_length:
        env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(target.context_length)
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(output_tokens_for(target.context_length))
    env |= {
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    return env


def find_target(ctx: CliContext) -> Target:
    """The running server's address, key, model and window; the config's when none runs."""
    if (running := running_server(ctx)) is not None:
        record, health = running
        fast = next((row.name for row in health.models if row.fast), None)
        return Target(
            url=record.url,
            api_key=record.api_key or "local",
            model=health.model,
            context_length=health.context_length,
            fast_model=fast,
        )
    settings = ctx.settings()
    keys = settings["server.api-keys"]
    url = base_url(settings["server.host"], settings["server.port"])
    click.echo(
        f"warning: no Pensieve server is running; using the configured address {url} "
        "(start one with `pensieve start --detach` to pass on its model and window)",
        err=True,
    )
    return Target(url=url, api_key=keys[0] if keys else "local")


def _warn(target: Target) -> None:
    if os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        click.echo(
            "warning: ANTHROPIC_AUTH_TOKEN is set in this shell; Claude Code sends it instead of "
            "ANTHROPIC_API_KEY. Unset it, or set it to the same key.",
            err=True,
        )
    window = target.context_length
    if window is not None:
        room = window - output_tokens_for(window) - AUTO_COMPACT_BUFFER - FULL_PROMPT_TOKENS
        if room < 0:
            click.echo(
                f"warning: {target.model} has a {window}-token window; Claude Code's full prompt "
                f"(~{FULL_PROMPT_TOKENS} tokens) plus its compaction buffer does not fit: use "
                "`claude --bare`, or serve a model with a window of 32k tokens or more",
                err=True,
            )


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("claude_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--env", "print_env", is_flag=True, help="Print the environment as shell exports.")
@click.option(
    "--write", is_flag=True, help="Merge the settings into ~/.claude/settings.json (with a backup)."
)
@click.option(
    "--project",
    is_flag=True,
    help="Merge them into .claude/settings.local.json in the current directory instead.",
)
@click.option("--remove", is_flag=True, help="Take the settings back out of that file.")
@click.option(
    "--settings-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Another settings.json to write or clean.",
)
@click.option(
    "--claude-bin", default="claude", show_default=True, help="The Claude Code executable."
)
@click.option(
    "--warm",
    is_flag=True,
    help="First prefill Claude Code's first request (system prompt, tools and environment, as "
    "the installed claude sends them from this directory: caught from one `claude -p` run on a "
    "loopback port) into the running server's prefix cache, so a new session's first turn only "
    "reads its prompt.",
)
@pass_cli
def claude(
    ctx: CliContext,
    claude_args: tuple[str, ...],
    print_env: bool,
    write: bool,
    project: bool,
    remove: bool,
    settings_file: Path | None,
    claude_bin: str,
    warm: bool,
) -> None:
    """Run Claude Code against the running server (`pensieve claude -- -p "hi"`).

    Nothing global changes unless --write (or --project) is given; --remove undoes that.
    """
    target_file = settings_file or (
        Path.cwd() / ".claude" / "settings.local.json"
        if project
        else Path.home() / ".claude" / "settings.json"
    )
    if remove:
        _remove(target_file)
        return
    target = find_target(ctx)
    env = claude_env(target)
    _warn(target)
    if warm:
        _warm(target, shutil.which(claude_bin), env)
    if print_env:
        for name, value in env.items():
            click.echo(f"export {name}={value}")
        return
    if write or project or settings_file is not None:
        _write(target_file, env)
        return
    binary = shutil.which(claude_bin)
    if binary is None:
        raise click.ClickException(
            f"{claude_bin!r} not found: install Claude Code with "
            "`npm install -g @anthropic-ai/claude-code` (Node.js 18 or newer)"
        )
    os.execve(binary, [binary, *claude_args], {**os.environ, **env})


SETUP = "claude-code-setup.json"
"""Claude Code 2.1.331's first request from a project directory (system prompt and tools; the
recorded home and project paths are placeholders, replaced by this user's and directory's)."""


def setup_request(home: Path, project: Path) -> bytes:
    """Claude Code's setup request as it would send it from ``project``, for ``max_tokens: 0``."""
    text = resources.files("pensieve_cli").joinpath("data", SETUP).read_text()
    # Claude Code names a project's memory directory after its path, with '/' written as '-'.
    text = text.replace("-workspace-project", str(project).replace("/", "-"))
    text = text.replace("/home/claude-user", str(home)).replace("/workspace/project", str(project))
    return text.encode()


def _warm(target: Target, binary: str | None, env: dict[str, str]) -> None:
    captured = (
        capture_first_request(binary, {**os.environ, **env}, Path.cwd())
        if binary is not None
        else None
    )
    if captured is not None:
        shape = "as this Claude Code sends it from here"
        body = json.dumps({**json.loads(captured), "max_tokens": 0, "stream": False}).encode()
    else:
        shape = "as Claude Code 2.1.331 sent it (no claude to ask)"
        body = setup_request(Path.home(), Path.cwd())
    request = urllib.request.Request(
        f"{target.url}/v1/messages",
        data=body,
        headers={"content-type": "application/json", "x-api-key": target.api_key},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            usage = json.loads(response.read())["usage"]
    except urllib.error.HTTPError as e:
        detail = json.loads(e.read() or b"{}").get("error", {}).get("message", str(e))
        click.echo(f"warning: warming failed: {detail}", err=True)
        return
    except (urllib.error.URLError, OSError) as e:
        click.echo(f"warning: warming failed: {e}", err=True)
        return
    kinds = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    prompt = sum(usage.get(k) or 0 for k in kinds)
    click.echo(
        f"warmed Claude Code's setup: {prompt} tokens "
        f"({usage.get('cache_read_input_tokens') or 0} already cached) "
        f"in {time.perf_counter() - started:.1f}s, {shape}",
        err=True,
    )


def _load(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise click.ClickException(f"{path} is not valid JSON ({e}); not touching it") from e
    if not isinstance(data, dict):
        raise click.ClickException(f"{path} does not hold a JSON object; not touching it")
    return data


def _save(path: Path, data: dict[str, object]) -> None:
    if path.is_file():
        backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(path, backup)
        click.echo(f"backup: {backup}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _write(path: Path, env: dict[str, str]) -> None:
    data = _load(path)
    existing = data.get("env")
    kept = {
        k: v
        for k, v in (existing if isinstance(existing, dict) else {}).items()
        if k not in MANAGED
    }
    data["env"] = {**kept, **env}
    _save(path, data)
    click.echo(f"wrote the Pensieve settings into {path} (`pensieve claude --remove` undoes it)")


def _remove(path: Path) -> None:
    data = _load(path)
    existing = data.get("env")
    if not isinstance(existing, dict) or not any(k in existing for k in MANAGED):
        click.echo(f"no Pensieve settings in {path}")
        return
    remaining = {k: v for k, v in existing.items() if k not in MANAGED}
    if remaining:
        data["env"] = remaining
    else:
        data.pop("env")
    _save(path, data)
    click.echo(f"removed the Pensieve settings from {path}")
