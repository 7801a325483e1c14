"""Deferred tools (Claude Code's ToolSearch): described where loaded, the prefix before untouched."""

import json
from typing import Any

from pensieve_api import messages_decoder
from pensieve_mlx import MLXEngine
from pensieve_server.anthropic.requests import to_domain
from pensieve_server.state import RequestDefaults

TOOLS: list[dict[str, Any]] = [
    {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}},
    {
        "name": "ToolSearch",
        "description": "Load deferred tools",
        "input_schema": {"type": "object"},
    },
    {
        "name": "WebFetch",
        "description": "Fetch a web page by URL",
        "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}},
        "defer_loading": True,
    },
]
FIRST = [{"role": "user", "content": "Load the WebFetch tool."}]
SECOND = [
    *FIRST,
    {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "t1",
                "name": "ToolSearch",
                "input": {"query": "select:WebFetch"},
            }
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "tool_reference", "tool_name": "WebFetch"}],
            },
            {"type": "text", "text": "Tool loaded."},
        ],
    },
]


def _render(engine: MLXEngine, messages: list[dict[str, Any]]) -> str:
    body = {"model": "x", "max_tokens": 10, "tools": TOOLS, "messages": messages}
    request = to_domain(
        messages_decoder.decode(json.dumps(body).encode()), RequestDefaults(0.0, 16)
    )
    return str(engine._renderer.render(request).text)  # the prompt as generation sees it


def test_a_loaded_deferred_tool_leaves_the_prefix_byte_identical(smol_engine: MLXEngine) -> None:
    first = _render(smol_engine, FIRST)
    second = _render(smol_engine, SECOND)
    assert "Fetch a web page by URL" not in first  # not listed up front
    assert "Read a file" in first
    loaded = second.index("Fetch a web page by URL")
    assert loaded > second.index("select:WebFetch")  # described inside the tool result
    # Everything the first prompt held (but its generation prompt) starts the second one.
    head = first[: first.rindex("<|im_start|>assistant")]
    assert second.startswith(head)
