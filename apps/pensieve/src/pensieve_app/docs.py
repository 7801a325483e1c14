"""Generate ``docs/configuration.md`` and ``docs/cli.md`` from the code that defines them.

``python -m pensieve_app.docs`` rewrites both; a test fails when they are out of date.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from pensieve_app.config import setting_specs
from pensieve_app.launcher import AppLauncher
from pensieve_cli import build_cli

CONFIG_HEADER = """# Configuration reference

Pensieve reads one TOML file (`pensieve config path` shows where; `--config FILE` or
`$PENSIEVE_CONFIG` choose another). Every key can also be set in the environment
(`PENSIEVE_SECTION_KEY`, lists comma-separated), by `pensieve start --set KEY=VALUE`, and some by
dedicated flags. Precedence: **flag > environment > file > default**; `pensieve config show` prints
each value with where it came from. Unknown keys and bad values are errors that name the key and
its source.

```toml
model = "smollm2-135m-instruct"

[server]
port = 7777
api-keys = ["sk-local-1"]

[engine]
max-active-sequences = 32
tool-grammar = "lazy"
```

Several models, each with its own engine (`pensieve start --model main=./qwen-7b --model
fast=smollm2` does the same from the command line):

```toml
model = "qwen2.5-coder-7b-instruct"
model-name = "main"

[[models]]
model = "smollm2-135m-instruct"
name = "fast"                  # fast: Claude Code's haiku tier (subagents, titles) goes here
aliases = ["small"]
engine = { max-context-tokens = 8192, max-active-sequences = 8 }

[server]
model-routes = ["*haiku*=fast", "gpt-4o-mini=fast"]   # after exact names and aliases
max-loaded-models = 2
model-keep-alive-s = 600       # unload a model idle for 10 minutes; the next request reloads it
```

A requested name goes to the served model of that name or alias, else to the first route whose
pattern matches, else to the default model (the first; `strict-model-names` answers 404
instead, except for `claude-*` names). Responses echo the requested name. `GET /v1/models` and
`pensieve status` show the table; `pensieve models load NAME` / `unload NAME` act on the running
server, and a model with requests in flight is never unloaded.

This page is generated from the config types themselves (`python -m pensieve_app.docs`).
"""


def _default(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def configuration_md() -> str:
    """The configuration reference."""
    lines = [CONFIG_HEADER]
    section = None
    for spec in setting_specs():
        current = spec.key.split(".")[0] if "." in spec.key else ""
        if current != section:
            section = current
            title = f"`[{section}]`" if section else "Top level"
            lines += [
                "",
                f"## {title}",
                "",
                "| key | type | default | environment | meaning |",
                "|---|---|---|---|---|",
            ]
        kind = " \\| ".join(spec.choices) if spec.choices else spec.type_name
        name = spec.key.split(".", 1)[-1]
        lines.append(
            f"| `{name}` | {kind} | `{_default(spec.default)}` | `{spec.env}` | {spec.help} |"
        )
    return "\n".join(lines) + "\n"


def _command_md(command: click.Command, path: str, depth: int) -> list[str]:
    lines = [f"{'#' * depth} `{path}`", ""]
    ctx = click.Context(command, info_name=path)
    lines += [inspect.cleandoc(command.help or ""), "", "```", command.get_usage(ctx), "```", ""]
    params = [p for p in command.params if isinstance(p, click.Option | click.Argument)]
    if params:
        lines += ["| option | meaning |", "|---|---|"]
        for param in params:
            record = (
                param.get_help_record(ctx)
                if isinstance(param, click.Option)
                else (param.human_readable_name, "argument")
            )
            if record:
                lines.append(f"| `{record[0]}` | {record[1].replace('|', '/')} |")
        lines.append("")
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            lines += _command_md(sub, f"{path} {name}", min(depth + 1, 4))
    return lines


def cli_md() -> str:
    """The CLI reference, from the click command tree."""
    cli = build_cli(AppLauncher(), version="")
    header = [
        "# `pensieve` command reference",
        "",
        "Errors are one line on stderr with exit code 1 (2 for usage errors); `--debug` shows",
        'tracebacks. Shell completion: `eval "$(pensieve completion bash)"` (or zsh, fish).',
        "Generated from the commands themselves (`python -m pensieve_app.docs`).",
        "",
    ]
    return "\n".join(header + _command_md(cli, "pensieve", 2)).rstrip("\n") + "\n"


def main() -> None:
    """Rewrite both pages under the given docs directory (default ``docs``)."""
    docs = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    (docs / "configuration.md").write_text(configuration_md())
    (docs / "cli.md").write_text(cli_md())


if __name__ == "__main__":
    main()
