"""Schema-driven fuzzing of the three JSON endpoints: no input is ever answered with a 5xx.

Bounded here (``make test``); ``PENSIEVE_FUZZ_EXAMPLES`` raises the count for the full run
(``make test-reliability``).
"""

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from tests.reliability.conftest import API_KEY, FULL, Report

EXAMPLES = int(os.environ.get("PENSIEVE_FUZZ_EXAMPLES", "1000" if FULL else "150"))
ENGINE_EXAMPLES = max(20, EXAMPLES // 5)


@pytest.fixture(name="statuses", scope="module")
def _statuses(report: Report) -> Iterator[dict[str, Counter[int]]]:
    seen: dict[str, Counter[int]] = {"http": Counter(), "engine": Counter()}
    yield seen
    for layer, label in (
        ("http", "the HTTP layer (scripted engine)"),
        ("engine", "the real engine"),
    ):
        counts = seen[layer]
        if counts:
            spread = ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
            fives = sum(n for status, n in counts.items() if status >= 500)
            report.add(
                f"{sum(counts.values())} Hypothesis-generated bodies on the three JSON endpoints, "
                f"{label}",
                f"{fives} x 5xx ({spread})",
            )


PATHS = ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
texts = st.one_of(st.text(max_size=40), st.just(""), st.just("\ud800"), anything)
blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["tool_use", "tool_result", "image", "thinking", "document", "tool_reference"]
            ),
            "id": st.text(max_size=8),
            "name": st.text(max_size=8),
            "input": anything,
            "content": st.one_of(texts, st.lists(anything, max_size=2)),
            "tool_use_id": st.text(max_size=8),
        }
    ),
    anything,
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "tool", "developer", ""]),
            "content": st.one_of(texts, st.lists(blocks, max_size=3)),
        }
    ),
    max_size=4,
)
schemas = st.one_of(
    st.just({"type": "object", "properties": {"a": {"type": "string"}}}),
    st.just(
        {
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/X"}},
            "$defs": {"X": {"type": "integer"}},
        }
    ),
    st.just({"type": "object", "properties": {"a": {"not": {}}}}),
    anything,
)
tools = st.lists(
    st.fixed_dictionaries(
        {"name": st.text(min_size=1, max_size=10), "description": texts, "input_schema": schemas}
    ),
    max_size=2,
)
anthropic_bodies = st.fixed_dictionaries(
    {"model": st.one_of(st.just("claude-x"), texts), "messages": messages},
    optional={
        "max_tokens": st.one_of(st.integers(min_value=-5, max_value=40), anything),
        "system": st.one_of(texts, st.lists(blocks, max_size=2)),
        "tools": tools,
        "tool_choice": st.one_of(
            st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "none"}]),
            st.fixed_dictionaries({"type": st.just("tool"), "name": st.text(max_size=5)}),
            anything,
        ),
        "thinking": st.one_of(
            st.sampled_from(
                [
                    {"type": "enabled", "budget_tokens": 1024},
                    {"type": "disabled"},
                    {"type": "adaptive"},
                ]
            ),
            anything,
        ),
        "temperature": st.one_of(st.floats(min_value=-1, max_value=3), anything),
        "top_p": st.floats(allow_nan=False),
        "top_k": st.integers(min_value=-5, max_value=10**6),
        "stop_sequences": st.one_of(st.lists(st.text(max_size=5), max_size=3), anything),
        "stream": st.booleans(),
        "metadata": anything,
    },
)
openai_bodies = st.fixed_dictionaries(
    {"model": st.one_of(st.just("gpt-4o"), texts), "messages": messages},
    optional={
        "max_tokens": st.one_of(st.integers(min_value=-5, max_value=40), anything),
        "seed": st.integers(min_value=-(2**66), max_value=2**66),
        "stream": st.booleans(),
        "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required"]), anything),
        "tools": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("function"),
                    "function": st.fixed_dictionaries(
                        {"name": st.text(max_size=8), "parameters": schemas}
                    ),
                }
            ),
            max_size=2,
        ),
        "stop": st.one_of(st.text(max_size=4), st.lists(st.text(max_size=4), max_size=5)),
        "n": st.integers(min_value=-1, max_value=3),
    },
)
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    anything.map(lambda v: json.dumps(v).encode()),
)
cases = st.one_of(
    st.tuples(st.sampled_from(PATHS[:2]), anthropic_bodies.map(lambda b: json.dumps(b).encode())),
    st.tuples(st.just(PATHS[2]), openai_bodies.map(lambda b: json.dumps(b).encode())),
    st.tuples(st.sampled_from(PATHS), raw_bodies),
)


@pytest.fixture(name="http_layer", scope="module")
def _http_layer() -> Iterator[TestClient]:
    app = create_app(FakeEngine(), ServerConfig(api_keys=(API_KEY,)))
    with TestClient(
        app, base_url="http://127.0.0.1:7777", headers={"x-api-key": API_KEY}
    ) as client:
        yield client


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(case=cases)
def test_the_http_layer_never_answers_5xx(
    http_layer: TestClient, statuses: dict[str, Counter[int]], case: tuple[str, bytes]
) -> None:
    path, body = case
    response = http_layer.post(path, content=body, headers={"content-type": "application/json"})
    statuses["http"][response.status_code] += 1
    assert response.status_code < 500, (path, body[:300], response.text[:300])
    assert response.headers["request-id"]


@settings(
    max_examples=ENGINE_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(case=cases)
def test_the_real_engine_never_answers_5xx(
    server_url: str, statuses: dict[str, Counter[int]], case: tuple[str, bytes]
) -> None:
    path, body = case
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):  # keep each case short: a few tokens, whatever the default
        if isinstance(data.get("max_tokens"), int):
            data["max_tokens"] = min(data["max_tokens"], 8)
        elif path == "/v1/chat/completions" and "max_tokens" not in data:
            data["max_tokens"] = 8
        body = json.dumps(data).encode()
    response = httpx.post(
        f"{server_url}{path}",
        content=body,
        headers={"x-api-key": API_KEY, "content-type": "application/json"},
        timeout=120,
    )
    statuses["engine"][response.status_code] += 1
    assert response.status_code < 500, (path, body[:300], response.text[:300])
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        assert "api_error" not in response.text, response.text[-300:]
