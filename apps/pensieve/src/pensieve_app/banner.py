"""What ``pensieve start`` prints once the server is up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from pensieve_core import ModelInfo

if TYPE_CHECKING:
    from pensieve_server import ModelStatus


def banner(
    info: ModelInfo,
    *,
    bound: str,
    url: str,
    api_key: str | None,
    blas: str,
    source: str,
    others: Sequence[ModelStatus] = (),
) -> str:
    """The lines a user needs: the model, how it runs, and how to point clients at it.

    ``bound`` is the address actually bound (``0.0.0.0`` included); ``url`` is what clients on
    this machine use.
    """
    key = api_key or "local"
    where = f"{bound} (all interfaces; on this machine {url})" if bound != url else url
    lines: list[str | None] = [
        click.style("Pensieve is serving", bold=True) + f" {info.id} ({source})",
        f"  model     {info.architecture}, context {info.context_length} tokens, tools: "
        + ("native template" if info.supports_tools else "fallback format"),
        f"  runs on   {info.device}, weights {info.precision}",
        f"  cpu blas  {blas}" if info.device == "cpu" else None,
        f"  loaded in {info.load_time_s:.1f}s from {info.path}",
        *(
            f"  also      {row.name} ({row.state}"
            + (", fast: Claude Code's haiku tier" if row.fast else "")
            + ")"
            for row in others
        ),
        f"  listening {where}",
        "  auth      " + ("API key required" if api_key else "none"),
        "",
        "Claude Code:",
        f"  export ANTHROPIC_BASE_URL={url}",
        f"  export ANTHROPIC_API_KEY={key}",
        "OpenAI clients:",
        f"  export OPENAI_BASE_URL={url}/v1",
        f"  export OPENAI_API_KEY={key}",
        "",
        "Ctrl+C stops the server.",
    ]
    return "\n".join(line for line in lines if line is not None)
