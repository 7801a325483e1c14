"""Every SDK 2.13 request shape through the official anthropic SDK, on the embedded SmolLM2.

Each shape is answered (200, a message) and ``count_tokens`` of the same request equals the
prompt the answer reports (``input_tokens`` plus cache reads).
"""

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.e2e.conftest import API_KEY

MODEL = "claude-opus-5-5"
GREEDY = {"temperature": 0}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
FETCH = {
    "name": "WebFetch",
    "description": "Fetch a URL",
    "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}},
    "defer_loading": True,
}


@pytest.fixture(name="client", scope="module")
def _client(server_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server_url, api_key=API_KEY, max_retries=0) as client:
        yield client


def answer_and_count(
    client: anthropic.Anthropic, *, extra: dict[str, Any] | None = None, **request: Any
) -> anthropic.types.Message:
    """Answer ``request`` and check that count_tokens counts the same prompt."""
    extra = extra or {}
    message = client.messages.create(model=MODEL, extra_body={**GREEDY, **extra}, **request)
    counted = {k: v for k, v in request.items() if k not in ("max_tokens", "service_tier")}
    count = client.messages.count_tokens(model=MODEL, extra_body=extra, **counted)
    usage = message.usage
    assert count.input_tokens == usage.input_tokens + (usage.cache_read_input_tokens or 0)
    return message


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled", "budget_tokens": 1024},
        {"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
        {"type": "disabled"},
        {"type": "adaptive"},
        {"type": "adaptive", "display": "summarized"},
        {"type": "between_tools", "budget_tokens": 1024},
    ],
    ids=lambda t: "-".join(str(v) for v in t.values()),
)
def test_each_thinking_type(client: anthropic.Anthropic, thinking: dict[str, Any]) -> None:
    message = answer_and_count(client, max_tokens=8, messages=QUESTION, thinking=thinking)
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.content


def test_thinking_blocks_signed_here_come_back(client: anthropic.Anthropic) -> None:
    """A thinking block (with its signature) sent back is accepted on the next turn."""
    block = {"type": "thinking", "thinking": "The user asks about France.", "signature": "x"}
    messages = [
        *QUESTION,
        {"role": "assistant", "content": [block, {"type": "text", "text": "Paris."}]},
        {"role": "user", "content": "And of Italy?"},
    ]
    message = answer_and_count(
        client, max_tokens=8, messages=messages, thinking={"type": "adaptive"}
    )
    assert message.content


@pytest.mark.parametrize("stream", [False, True])
def test_tool_choice_none_answers_in_text(client: anthropic.Anthropic, stream: bool) -> None:
    request: dict[str, Any] = {
        "max_tokens": 24,
        "messages": [{"role": "user", "content": "What's the weather like in Paris?"}],
        "tools": [WEATHER],
        "tool_choice": {"type": "none"},
    }
    if stream:
        with client.messages.stream(model=MODEL, extra_body=GREEDY, **request) as s:
            message = s.get_final_message()
    else:
        message = answer_and_count(client, **request)
    assert message.content
    assert all(b.type == "text" for b in message.content)
    assert message.stop_reason in ("end_turn", "max_tokens")


def test_disable_parallel_tool_use_gives_one_call(client: anthropic.Anthropic) -> None:
    message = answer_and_count(
        client,
        max_tokens=60,
        messages=[{"role": "user", "content": "Weather in Paris and in Rome?"}],
        tools=[WEATHER],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    assert [b.type for b in message.content].count("tool_use") == 1
    assert message.stop_reason == "tool_use"


CALL = {"type": "tool_use", "id": "toolu_01", "name": "ToolSearch", "input": {"query": "fetch"}}
SEARCH = {
    "type": "search_result",
    "source": "https://example.com/france",
    "title": "France",
    "content": [{"type": "text", "text": "Paris is the capital of France."}],
}
SHAPES: dict[str, list[dict[str, Any]]] = {
    "search_result": [{"role": "user", "content": [SEARCH, {"type": "text", "text": "Capital?"}]}],
    "document": [
        {
            "role": "user",
            "content": [
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "Paris."},
                    "title": "Notes",
                    "citations": {"enabled": True},
                },
                {"type": "text", "text": "Summarise."},
            ],
        }
    ],
    "server_tool_use": [
        *QUESTION,
        {
            "role": "assistant",
            "content": [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_01",
                    "name": "web_search",
                    "input": {"query": "capital of France"},
                },
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_01",
                    "content": [
                        {
                            "type": "web_search_result",
                            "url": "https://example.com",
                            "title": "France",
                            "encrypted_content": "abc",
                            "page_age": None,
                        }
                    ],
                },
                {"type": "text", "text": "Paris."},
            ],
        },
        {"role": "user", "content": "Thanks. And Spain?"},
    ],
    "server_tool_results": [
        *QUESTION,
        {
            "role": "assistant",
            "content": [
                {"type": t, "tool_use_id": "srvtoolu_02", "content": {"type": "x", "stdout": "ok"}}
                for t in (
                    "web_fetch_tool_result",
                    "code_execution_tool_result",
                    "bash_code_execution_tool_result",
                    "text_editor_code_execution_tool_result",
                    "tool_search_tool_result",
                )
            ],
        },
        {"role": "user", "content": "Go on."},
    ],
    "mcp_tool_use": [
        *QUESTION,
        {
            "role": "assistant",
            "content": [
                {
                    "type": "mcp_tool_use",
                    "id": "mcptoolu_01",
                    "name": "lookup",
                    "server_name": "atlas",
                    "input": {"q": "France"},
                },
                {
                    "type": "mcp_tool_result",
                    "tool_use_id": "mcptoolu_01",
                    "is_error": False,
                    "content": [{"type": "text", "text": "Paris"}],
                },
            ],
        },
        {"role": "user", "content": "So?"},
    ],
    "compaction": [
        {"role": "user", "content": "Let us talk about Europe."},
        {
            "role": "assistant",
            "content": [{"type": "compaction", "content": "We discussed European capitals."}],
        },
        {"role": "user", "content": "Which one was French?"},
    ],
    "container_upload": [
        {
            "role": "user",
            "content": [
                {"type": "container_upload", "file_id": "file_011"},
                {"type": "text", "text": "What is the capital of France?"},
            ],
        }
    ],
    "redacted_thinking": [
        *QUESTION,
        {
            "role": "assistant",
            "content": [
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
                {"type": "text", "text": "Paris."},
            ],
        },
        {"role": "user", "content": "Sure?"},
    ],
    "tool_reference": [
        {"role": "user", "content": "Fetch example.com"},
        {"role": "assistant", "content": [CALL]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [
                        {"type": "tool_reference", "tool_name": "WebFetch"},
                        {"type": "text", "text": "Tool loaded."},
                        SEARCH,
                    ],
                }
            ],
        },
    ],
    "system_tool_changes": [
        *QUESTION,
        {"role": "assistant", "content": "Paris."},
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Tools changed."},
                {"type": "tool_addition", "tool": {"type": "tool_reference", "name": "WebFetch"}},
                {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "ToolSearch"}},
            ],
            "clear_at": "never",
        },
        {"role": "user", "content": "Fetch example.com"},
    ],
}
TOOLS = [
    {"name": "ToolSearch", "description": "Find tools", "input_schema": {"type": "object"}},
    FETCH,
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    {"type": "code_execution_20250825", "name": "code_execution"},
]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_block_type(client: anthropic.Anthropic, shape: str) -> None:
    message = answer_and_count(
        client,
        max_tokens=6,
        messages=SHAPES[shape],
        tools=TOOLS,
        service_tier="auto",
        extra={"mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "atlas"}]},
        extra_headers={"anthropic-beta": "mcp-client-2025-04-04"},
    )
    assert message.content
    assert message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0) > 0


def test_ignored_fields_are_accepted(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=4,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "Hi",
                        "cache_control": {"type": "ephemeral", "ttl": "1h", "scope": "global"},
                    }
                ],
            }
        ],
        tools=[
            {
                **WEATHER,
                "strict": True,
                "eager_input_streaming": True,
                "input_examples": [{"city": "Paris"}],
                "allowed_callers": ["direct"],
            }
        ],
        cache_control={"type": "ephemeral"},
        container="container_01",
        inference_geo="us",
        speed="fast",
        service_tier="standard_only",
        extra_body={
            "top_p": 0.9,
            "top_k": 40,
            "temperature": 0.2,
            "diagnostics": {"x": 1},
            "context_management": {"edits": []},
        },
    )
    assert message.content
