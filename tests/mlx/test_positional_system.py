"""Mid-conversation ``role: "system"`` turns stay where they stand, so turn 2 reads turn 1's cache.

Replays Claude Code's m5 recording (a token countdown as a system turn after each tool result,
the environment as a system turn after the first prompt) on a tiny random-weight model whose
window holds the whole 12k-token prompt.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pensieve_api import messages_decoder
from pensieve_core import GenerationRequest, TextPart, ToolResultPart
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_server.anthropic.requests import to_domain
from pensieve_server.state import RequestDefaults
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.mlx.conftest import collect, load_engine

pytestmark = pytest.mark.anyio

M5 = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "claude-code"
    / "m5_total_tokens_reminder_countdown"
)
DEFAULTS = RequestDefaults(temperature=0.0, openai_max_tokens=16)


def _turn(n: int) -> GenerationRequest:
    recorded = json.loads((M5 / f"{n:03d}_POST_v1_messages.json").read_text())["body_json"]
    return to_domain(messages_decoder.decode(json.dumps(recorded)), DEFAULTS)


@pytest.fixture(name="window_engine", scope="module")
def _window_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLXEngine]:
    from pensieve_loader.gguf_convert import convert_gguf

    root = tmp_path_factory.mktemp("window")
    write_tiny_llama(root / "w.gguf", smollm_vocab(), hidden=64, layers=2, seed=3, context=32768)
    engine = load_engine(
        convert_gguf(root / "w.gguf", root / "w"), MLXEngineConfig(max_output_tokens=4)
    )
    yield engine
    engine._worker.stop()


def test_system_turns_render_in_place() -> None:
    first, second = _turn(1), _turn(2)
    assert "987550 tokens left" not in second.system  # the countdown (the front holds 1000000)
    assert "Primary working directory" not in first.system
    # The environment joins the first user turn it follows, in both turns alike.
    assert first.messages[0] == second.messages[0]
    last = second.messages[-1]
    assert last.role == "user"
    reminder = last.parts[-1]
    assert isinstance(reminder, TextPart)
    assert "987550 tokens left" in reminder.text
    assert reminder.text.startswith("<system-reminder>")


def test_a_new_sessions_first_turn_shares_all_but_its_prompt() -> None:
    """Claude Code's environment turn (after the first prompt) renders before that prompt."""
    recorded = json.loads((M5 / "001_POST_v1_messages.json").read_text())["body_json"]
    other = json.loads(json.dumps(recorded))
    other["messages"][0]["content"][-1]["text"] = "A different question entirely."
    first, second = (
        to_domain(messages_decoder.decode(json.dumps(b)), DEFAULTS) for b in (recorded, other)
    )
    a, b = first.messages[0].parts, second.messages[0].parts
    assert isinstance(a[0], TextPart)
    assert "Primary working directory" in a[0].text
    assert a[:-1] == b[:-1], "everything before the prompt is the same"
    assert b[-1] == TextPart("A different question entirely.")
    environments = [i for i, m in enumerate(recorded["messages"]) if m["role"] == "system"]
    assert environments == [1], "the recording has its environment right after the prompt"


def test_clear_at_next_user_message_drops_the_turn_once_a_user_follows() -> None:
    body = {
        "model": "m",
        "max_tokens": 4,
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "system", "content": "only now", "clear_at": "next_user_message"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "two"},
            {"role": "system", "content": "still shown", "clear_at": "next_user_message"},
        ],
    }
    request = to_domain(messages_decoder.decode(json.dumps(body)), DEFAULTS)
    texts = [p.text for m in request.messages for p in m.parts if isinstance(p, TextPart)]
    assert not any("only now" in t for t in texts)
    assert any("still shown" in t for t in texts)


async def test_turn_two_reads_turn_one_from_the_cache(window_engine: MLXEngine) -> None:
    _, first, _ = await collect(window_engine.start(_turn(1)))
    assert first.usage.prompt_tokens > 8000
    _, second, _ = await collect(window_engine.start(_turn(2)))
    assert second.usage.cached_tokens >= 0.95 * first.usage.prompt_tokens, (
        second.usage.cached_tokens,
        first.usage.prompt_tokens,
    )


RECORDINGS = sorted((M5.parent).glob("*/*_POST_v1_messages.json"))


def _recorded(path: Path) -> GenerationRequest:
    body = json.loads(path.read_text())["body_json"]
    return to_domain(messages_decoder.decode(json.dumps(body)), DEFAULTS)


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda p: f"{p.parent.name}/{p.name[:3]}")
async def test_every_recording_is_answered_where_the_window_holds_it(
    window_engine: MLXEngine, recording: Path
) -> None:
    """On a window that holds Claude Code's full prompt, each recorded request is answered."""
    request = _recorded(recording)
    _, finished, events = await collect(window_engine.start(request))
    assert finished.reason in ("stop", "length", "tool_use")
    assert finished.usage.completion_tokens > 0
    assert len(events) > 1


def test_the_toolsearch_follow_up_describes_the_loaded_tool() -> None:
    """m1's second request: the `tool_reference` renders WebFetch's definition in the result."""
    recorded = M5.parent / "m1_toolsearch_default" / "002_POST_v1_messages.json"
    body = json.loads(recorded.read_text())["body_json"]
    request = to_domain(messages_decoder.decode(json.dumps(body)), DEFAULTS)
    results = [p for m in request.messages for p in m.parts if isinstance(p, ToolResultPart)]
    assert any("Tool WebFetch is now available" in p.content for p in results)
    assert "WebFetch" in {t.name for t in request.tools}
