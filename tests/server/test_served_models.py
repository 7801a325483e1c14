"""Several served models: routing by name, loading on demand, unloading when idle or for room."""

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from pensieve_core import (
    ConfigError,
    GenerationRequest,
    InvalidRequestError,
    Message,
    ModelInfo,
    ModelNameError,
    OverloadedError,
    SamplingParams,
    TextPart,
)
from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from pensieve_server.served_models import Limits, ModelSpec, ServedModels

pytestmark = pytest.mark.anyio


class Loads:
    """Engine builders that count their loads and can be slowed down."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.count: dict[str, int] = {}
        self.closed: dict[str, int] = {}
        self.delay_s = delay_s

    def spec(
        self, name: str, *, fast: bool = False, size: int = 0, delay_s: float = 0.0
    ) -> ModelSpec:
        def load() -> FakeEngine:
            time.sleep(self.delay_s)
            self.count[name] = self.count.get(name, 0) + 1
            engine = _Closing(
                reply=(f"I am {name}.",),
                model_info=ModelInfo(id=name, context_length=4096, max_output_tokens=512),
                delay_s=delay_s,
            )
            engine.on_close = lambda: self.closed.__setitem__(name, self.closed.get(name, 0) + 1)
            return engine

        return ModelSpec(name, load=load, fast=fast, size_bytes=size)


class _Closing(FakeEngine):
    on_close: Callable[[], object] | None = None

    async def aclose(self) -> None:
        if self.on_close is not None:
            self.on_close()


def test_names_route_exactly_then_by_pattern_then_to_the_default() -> None:
    loads = Loads()
    models = ServedModels(
        [loads.spec("main"), loads.spec("small", fast=True)],
        routes=[("*haiku*", "fast"), ("gpt-4o-mini", "small")],
        aliases=["local-model"],
    )
    assert models.route("main") == "main"
    assert models.route("small") == "small"
    assert models.route("claude-haiku-4-5-20251001") == "small"
    assert models.route("CLAUDE-3-5-HAIKU-latest") == "small"
    assert models.route("gpt-4o-mini") == "small"
    assert models.route("claude-opus-4-1") == "main"
    assert models.route("local-model") == "main"
    assert models.route("anything") == "main"
    names = dict(models.names())
    assert names["*haiku*"] == "small"
    assert names["local-model"] == "main"


def test_strict_names_and_a_missing_fast_model() -> None:
    loads = Loads()
    models = ServedModels([loads.spec("main")], strict=True)
    # No fast model: the haiku route is skipped, and claude-* names still reach the default.
    assert models.route("claude-haiku-4-5") == "main"
    with pytest.raises(ModelNameError):
        models.route("gpt-4o")
    with pytest.raises(ConfigError, match="not served"):
        ServedModels([loads.spec("main")], routes=[("x*", "nope")])


async def test_a_model_loads_on_first_use_once_for_concurrent_requests() -> None:
    loads = Loads(delay_s=0.2)
    models = ServedModels([loads.spec("main"), loads.spec("fast", fast=True)])

    async def ask() -> str:
        async with models.engine("claude-haiku-x") as engine:
            return engine.info.id

    assert [r.state for r in models.status()] == ["unloaded", "unloaded"]
    assert await asyncio.gather(*(ask() for _ in range(5))) == ["fast"] * 5
    assert loads.count == {"fast": 1}, "one load shared by the five waiting requests"
    assert {r.name: r.state for r in models.status()} == {"main": "unloaded", "fast": "loaded"}


async def test_idle_models_unload_after_the_keep_alive_and_load_again() -> None:
    loads = Loads()
    models = ServedModels(
        [loads.spec("main"), loads.spec("fast", fast=True)], limits=Limits(keep_alive_s=0.05)
    )
    async with models.engine("fast"):
        pass
    assert await models.reap() == []  # used just now
    await asyncio.sleep(0.08)
    assert await models.reap() == ["fast"]
    assert loads.closed == {"fast": 1}
    async with models.engine("fast") as engine:
        assert engine.info.id == "fast"
    assert loads.count == {"fast": 2}


async def test_a_model_with_a_request_in_flight_is_never_unloaded() -> None:
    loads = Loads()
    models = ServedModels([loads.spec("main", delay_s=0.05)], limits=Limits(keep_alive_s=0.01))
    async with models.engine("main") as engine:
        generation = await engine.start(_request())
    await asyncio.sleep(0.05)
    assert await models.reap() == [], "the stream is still running"
    with pytest.raises(InvalidRequestError, match="in flight"):
        await models.unload("main")
    async with generation:
        async for _ in generation.events():
            pass
    await asyncio.sleep(0.02)
    assert await models.reap() == ["main"]


async def test_limits_unload_the_least_recently_used_idle_model() -> None:
    loads = Loads()
    models = ServedModels(
        [loads.spec("a"), loads.spec("b"), loads.spec("c")], limits=Limits(max_loaded=2)
    )
    for name in ("a", "b", "c"):
        async with models.engine(name):
            pass
    assert {r.name: r.state for r in models.status()} == {
        "a": "unloaded",
        "b": "loaded",
        "c": "loaded",
    }
    # Budget: c (busy) and b cannot both stay beside a 3-byte model within 4 bytes.
    sized = ServedModels(
        [loads.spec("x", size=3), loads.spec("y", size=3, delay_s=0.05)],
        limits=Limits(memory_budget_bytes=4),
    )
    async with sized.engine("y") as engine:
        generation = await engine.start(_request())
        with pytest.raises(OverloadedError, match="does not fit"):
            async with sized.engine("x"):
                pass
    await generation.aclose()


async def test_the_http_layer_routes_and_lists_and_loads() -> None:
    loads = Loads()
    models = ServedModels(
        [loads.spec("main"), loads.spec("fast", fast=True)],
        engines={"main": loads.spec("main").load()},
    )
    app = create_app(models, ServerConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        listed = (await client.get("/v1/models")).json()["data"]
        assert [m["id"] for m in listed][:2] == ["main", "fast"]
        assert {"id": "*haiku*", "display_name": "*haiku* -> fast"}.items() <= next(
            m for m in listed if m["id"] == "*haiku*"
        ).items()
        for requested, who in (("claude-haiku-4-5", "fast"), ("claude-opus-4-1", "main")):
            body = {
                "model": requested,
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            }
            answer = (await client.post("/v1/messages", json=body)).json()
            assert answer["model"] == requested, "the requested name is echoed"
            assert answer["content"][0]["text"] == f"I am {who}."
        rows = (await client.get("/v1/pensieve/models")).json()
        assert [(r["name"], r["state"], r["fast"]) for r in rows] == [
            ("main", "loaded", False),
            ("fast", "loaded", True),
        ]
        assert (await client.post("/v1/pensieve/models/fast/unload")).json()["was_loaded"]
        health = (await client.get("/health")).json()
        assert health["model"] == "main"
        assert [m["state"] for m in health["models"]] == ["loaded", "unloaded"]
        assert (await client.post("/v1/pensieve/models/claude-haiku-x/load")).json() == {
            "model": "fast",
            "state": "loaded",
        }


def _request() -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", (TextPart("hi"),)),), sampling=SamplingParams(max_tokens=5)
    )


async def test_a_stream_for_a_loading_model_pings_until_it_is_loaded() -> None:
    loads = Loads(delay_s=0.6)
    models = ServedModels([loads.spec("main"), loads.spec("fast", fast=True)])
    app = create_app(models, ServerConfig(ping_interval_s=0.1))
    transport = httpx.ASGITransport(app=app)
    messages = [{"role": "user", "content": "hi"}]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        body = {"model": "claude-haiku-4-5", "max_tokens": 9, "stream": True, "messages": messages}
        reply = await client.post("/v1/messages", json=body)
        events = [line for line in reply.text.splitlines() if line.startswith("event: ")]
        first_start = events.index("event: message_start")
        assert first_start >= 3, "pings while the model loaded, before the message opened"
        assert set(events[:first_start]) == {"event: ping"}
        assert "I am fast." in reply.text
        assert events[-1] == "event: message_stop"
        # OpenAI's stream the same way, for the other model.
        chat = {"model": "main", "stream": True, "messages": messages}
        streamed = (await client.post("/v1/chat/completions", json=chat)).text
        assert "I am main." in streamed
        assert streamed.rstrip().endswith("data: [DONE]")
        # A model loaded already answers without waiting: no ping before the message.
        again = await client.post("/v1/messages", json=body)
        assert next(ln for ln in again.text.splitlines() if ln.startswith("event: ")) == (
            "event: message_start"
        )
    assert loads.count == {"fast": 1, "main": 1}
