"""The official anthropic SDK against a real server on the embedded SmolLM2."""

from collections.abc import Iterator

import anthropic
import pydantic
import pytest

from tests.e2e.conftest import API_KEY

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
QUESTION: list[anthropic.types.MessageParam] = [
    {"role": "user", "content": "What is the capital of France?"}
]
# SDK 2.x has no sampling arguments; greedy decoding goes through the body.
GREEDY = {"temperature": 0}


@pytest.fixture(name="client")
def _client(server_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server_url, api_key=API_KEY, max_retries=0) as client:
        yield client


def test_create_real_text_and_usage(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-opus-5-5", max_tokens=40, extra_body=GREEDY, messages=QUESTION
    )
    assert message.model == "claude-opus-5-5"
    assert message.id.startswith("msg_")
    assert message.content[0].type == "text"
    assert "Paris" in message.content[0].text
    assert message.stop_reason == "end_turn"
    counted = client.messages.count_tokens(model="claude-opus-5-5", messages=QUESTION)
    usage = message.usage
    assert usage.input_tokens + (usage.cache_read_input_tokens or 0) == counted.input_tokens
    assert 0 < usage.output_tokens <= 40


def test_max_tokens_and_stop_sequence(client: anthropic.Anthropic) -> None:
    short = client.messages.create(
        model="claude-x", max_tokens=3, extra_body=GREEDY, messages=QUESTION
    )
    assert short.stop_reason == "max_tokens"
    assert short.usage.output_tokens == 3
    stopped = client.messages.create(
        model="claude-x",
        max_tokens=40,
        extra_body=GREEDY,
        messages=QUESTION,
        stop_sequences=["France"],
    )
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == "France"
    assert "France" not in stopped.content[0].text  # type: ignore[union-attr]


def test_stream_event_order(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-x", max_tokens=30, extra_body=GREEDY, messages=QUESTION
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds[-2] == "message_delta"
    body = [k for k in kinds if k not in ("ping", "text")]
    assert body[1] == "content_block_start"
    assert body[-3] == "content_block_stop"
    assert "content_block_delta" in body
    assert "Paris" in final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0


@pytest.mark.anyio
async def test_async_client(server_url: str) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=server_url, api_key=API_KEY, max_retries=0
    ) as client:
        message = await client.messages.create(
            model="claude-x", max_tokens=20, extra_body=GREEDY, messages=QUESTION
        )  # type: ignore[arg-type]
        assert message.content[0].text  # type: ignore[union-attr]
        async with client.messages.stream(
            model="claude-x", max_tokens=20, extra_body=GREEDY, messages=QUESTION
        ) as stream:  # type: ignore[arg-type]
            text = await stream.get_final_text()
    assert "Paris" in text


@pytest.mark.parametrize("stream", [False, True])
def test_forced_tool_call_and_follow_up(client: anthropic.Anthropic, stream: bool) -> None:
    question = [{"role": "user", "content": "What's the weather like in Paris today?"}]
    kwargs = {
        "model": "claude-x",
        "max_tokens": 100,
        "extra_body": GREEDY,
        "messages": question,
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    if stream:
        with client.messages.stream(**kwargs) as s:  # type: ignore[arg-type]
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)  # type: ignore[arg-type]
    assert message.stop_reason == "tool_use"
    call = next(b for b in message.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert isinstance(call.input, dict)
    assert isinstance(call.input["city"], str)
    follow_up = client.messages.create(
        model="claude-x",
        max_tokens=40,
        extra_body=GREEDY,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            *question,
            {"role": "assistant", "content": message.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 24 C"}
                ],
            },
        ],  # type: ignore[list-item]
    )
    assert follow_up.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert follow_up.usage.output_tokens > 0


def test_error_rows(client: anthropic.Anthropic, server_url: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="claude-x", max_tokens=10, messages=[])
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with (
        anthropic.Anthropic(base_url=server_url, api_key="wrong", max_retries=0) as stranger,
        pytest.raises(anthropic.AuthenticationError),
    ):
        stranger.messages.create(model="claude-x", max_tokens=10, messages=QUESTION)  # type: ignore[arg-type]
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.get("/v1/no-such-route", cast_to=object)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    # One served model: a name of the client's own reaches it and is echoed back.
    assert client.messages.create(model="my-model", max_tokens=5, messages=QUESTION).model == (
        "my-model"
    )
    with pytest.raises(anthropic.ContentTooLargeError) as large:
        client.messages.create(
            model="claude-x",
            max_tokens=10,
            messages=[{"role": "user", "content": "x" * (33 * 2**20)}],
        )
    assert large.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as too_long:
        client.messages.create(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "word " * 9000}]
        )
    assert too_long.value.body["error"]["message"].startswith("prompt is too long: ")  # type: ignore[index]
    assert client.messages.create(model="claude-x", max_tokens=5, messages=QUESTION).content


class City(pydantic.BaseModel):
    """What messages.parse() asks for."""

    name: str
    country: str


def test_messages_parse_returns_a_valid_instance(client: anthropic.Anthropic) -> None:
    """``output_config.format`` (json_schema) constrains the answer with the grammar."""
    message = client.messages.parse(
        model="claude-opus-5-5",
        max_tokens=120,
        extra_body=GREEDY,
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        output_format=City,
    )
    assert isinstance(message.parsed_output, City)
    assert message.parsed_output.name
    assert message.stop_reason == "end_turn"


def test_max_tokens_zero_fills_the_cache_for_the_next_request(
    client: anthropic.Anthropic,
) -> None:
    system = "You are a geography tutor. " + " ".join(f"Fact {i}: rivers flow." for i in range(80))
    question = [{"role": "user", "content": "Name one river in France."}]
    warm = client.messages.create(
        model="claude-opus-5-5", max_tokens=0, system=system, messages=question
    )
    assert warm.content == []
    assert warm.stop_reason == "max_tokens"
    assert warm.usage.output_tokens == 0
    assert warm.usage.input_tokens > 500
    answer = client.messages.create(
        model="claude-opus-5-5", max_tokens=8, system=system, messages=question, extra_body=GREEDY
    )
    assert (answer.usage.cache_read_input_tokens or 0) >= warm.usage.input_tokens - 1


def test_cache_usage_as_anthropic_reports_it(client: anthropic.Anthropic) -> None:
    """With a breakpoint: reads, writes and the rest, the same in message_start and at the end."""
    system: list[anthropic.types.TextBlockParam] = [
        {
            "type": "text",
            "text": "You answer questions about rivers. " + "Rivers flow downhill. " * 60,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    first = client.messages.create(
        model="claude-opus-5-5", max_tokens=4, system=system, messages=QUESTION, extra_body=GREEDY
    )
    u = first.usage
    prompt = (
        u.input_tokens + (u.cache_creation_input_tokens or 0) + (u.cache_read_input_tokens or 0)
    )
    assert (u.cache_creation_input_tokens or 0) > 200
    follow_up: list[anthropic.types.MessageParam] = [
        *QUESTION,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "And of Spain?"},
    ]
    with client.messages.stream(
        model="claude-opus-5-5",
        max_tokens=4,
        system=system,
        messages=follow_up,
        extra_body=GREEDY,
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    start = next(e for e in events if e.type == "message_start").message.usage
    usage = final.usage
    assert (usage.cache_read_input_tokens or 0) >= prompt - 1, "turn 1 is read from the cache"
    assert (usage.cache_creation_input_tokens or 0) > 0, "the new turn is written"
    assert start.cache_read_input_tokens == usage.cache_read_input_tokens
    assert start.cache_creation_input_tokens == usage.cache_creation_input_tokens
    assert start.input_tokens == usage.input_tokens
    counted = client.messages.count_tokens(
        model="claude-opus-5-5",
        system=system,
        messages=follow_up,
    )
    total = usage.input_tokens + (usage.cache_read_input_tokens or 0)
    assert counted.input_tokens == total + (usage.cache_creation_input_tokens or 0)


def test_cache_miss_reasons_reach_the_sdk_types(client: anthropic.Anthropic) -> None:
    """``diagnostics.previous_message_id``: a grown conversation hits; a changed system misses."""
    system = "You are a geography tutor. " + "Keep answers short. " * 40
    first = client.messages.create(
        model="claude-opus-5-5",
        max_tokens=4,
        system=system,
        messages=QUESTION,
        extra_body=GREEDY,
        diagnostics={"previous_message_id": None},
    )
    assert first.diagnostics is not None
    assert first.diagnostics.cache_miss_reason is None
    grown: list[anthropic.types.MessageParam] = [
        *QUESTION,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "And of Spain?"},
    ]
    second = client.messages.create(
        model="claude-opus-5-5",
        max_tokens=4,
        system=system,
        messages=grown,
        extra_body=GREEDY,
        diagnostics={"previous_message_id": first.id},
    )
    assert second.diagnostics is not None
    assert second.diagnostics.cache_miss_reason is None, "appending hits the cache"
    third = client.messages.create(
        model="claude-opus-5-5",
        max_tokens=4,
        system="A different tutor.",
        messages=grown,
        extra_body=GREEDY,
        diagnostics={"previous_message_id": second.id},
    )
    assert third.diagnostics is not None
    miss = third.diagnostics.cache_miss_reason
    assert isinstance(miss, anthropic.types.CacheMissSystemChanged)
    assert miss.cache_missed_input_tokens > 200
