"""The official openai SDK against the same server."""

import json
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.conftest import API_KEY

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(name="client")
def _client(server_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server_url}/v1", api_key=API_KEY, max_retries=0) as client:
        yield client


def test_chat_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="local-model", messages=QUESTION, temperature=0, max_tokens=30
    )  # type: ignore[arg-type]
    assert "Paris" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="local-model",
        messages=QUESTION,
        temperature=0,
        max_tokens=30,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_forced_tool_call(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="local-model",
        messages=[{"role": "user", "content": "What's the weather in Rome?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        temperature=0,
        max_tokens=80,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["city"], str)  # type: ignore[union-attr]


def test_openai_errors(client: openai.OpenAI, server_url: str) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="local-model", messages=[])
    with (
        openai.OpenAI(base_url=f"{server_url}/v1", api_key="nope", max_retries=0) as stranger,
        pytest.raises(openai.AuthenticationError),
    ):
        stranger.chat.completions.create(model="local-model", messages=QUESTION)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.get("/no-such-route", cast_to=object)
    # One served model: OpenAI's default names reach it and are echoed back.
    reply = client.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=5)
    assert reply.model == "gpt-4o"


def test_response_format_json_schema_constrains_the_answer(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    completion = client.chat.completions.create(
        model="gpt-4o",
        max_tokens=80,
        temperature=0,
        messages=[{"role": "user", "content": "Where is the Eiffel Tower? Answer as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": schema, "strict": True},
        },
    )
    content = completion.choices[0].message.content
    assert content is not None
    answer = json.loads(content)
    assert set(answer) == {"city", "country"}
    assert completion.choices[0].finish_reason == "stop"
