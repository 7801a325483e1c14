"""Thinking on the real engine, with a template that has a thinking switch (Qwen3's shape).

The tiny random-weight llama gets ``<think>``/``</think>`` tokens and a chat template that opens
the answer inside ``<think>`` unless ``enable_thinking`` is false, and replays an assistant
turn's ``reasoning_content``, as Qwen3's does.
"""

from collections.abc import Iterator

import pytest

from pensieve_core import (
    GenerationRequest,
    Message,
    SamplingParams,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
)
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_mlx import MLXEngine
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.mlx.conftest import collect, load_engine

pytestmark = pytest.mark.anyio

TEMPLATE = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m.role + '\\n' }}"
    "{% if m.role == 'assistant' and m.reasoning_content %}"
    "{{ '<think>\\n' + m.reasoning_content + '\\n</think>\\n' }}"
    "{% endif %}"
    "{{ m.content + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{% else %}{{ '<think>\\n' }}{% endif %}"
    "{% endif %}"
)


@pytest.fixture(name="thinking_engine", scope="module")
def _thinking_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLXEngine]:
    root = tmp_path_factory.mktemp("thinking")
    vocab = smollm_vocab()
    recorded = vocab["tokens"]
    assert isinstance(recorded, list)
    tokens = list(recorded)
    # Two unused special tokens become the thinking markers (ids stay inside the embedding).
    tokens[tokens.index("<jupyter_start>")] = "<think>"
    tokens[tokens.index("<jupyter_text>")] = "</think>"
    vocab = {**vocab, "tokens": tokens, "chat_template": TEMPLATE}
    write_tiny_llama(root / "t.gguf", vocab, hidden=64, layers=2, seed=11)
    engine = load_engine(convert_gguf(root / "t.gguf", root / "thinking-tiny"))
    yield engine
    engine._worker.stop()


def request(
    *, thinking: bool | None = None, budget: int = 0, max_tokens: int = 24
) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", (TextPart("What is 2+2?"),)),),
        sampling=SamplingParams(max_tokens=max_tokens, temperature=0.0),
        thinking=thinking,
        thinking_budget=budget,
    )


def thinking_tokens(engine: MLXEngine, text: str) -> int:
    return len(engine._loaded.tokenizer.encode(text, add_special_tokens=False))


async def test_the_switch_reaches_the_template(thinking_engine: MLXEngine) -> None:
    on = thinking_engine._renderer.render(request(thinking=True))
    off = thinking_engine._renderer.render(request(thinking=False))
    default = thinking_engine._renderer.render(request())
    assert on.starts_thinking
    assert default.starts_thinking
    assert not off.starts_thinking
    assert off.text.endswith("<think>\n\n</think>\n\n")


async def test_thinking_streams_as_thinking(thinking_engine: MLXEngine) -> None:
    _, finished, events = await collect(thinking_engine.start(request(thinking=True)))
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking, "the answer opened inside <think> streams as thinking"
    assert finished.usage.completion_tokens == 24
    _, _, off = await collect(thinking_engine.start(request(thinking=False)))
    assert not any(isinstance(e, ThinkingDelta) for e in off)


@pytest.mark.parametrize("budget", [3, 8])
async def test_budget_closes_the_reasoning(thinking_engine: MLXEngine, budget: int) -> None:
    _, finished, events = await collect(
        thinking_engine.start(request(thinking=True, budget=budget))
    )
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert thinking_tokens(thinking_engine, thinking) <= budget
    assert thinking.strip()
    # The model goes on to answer after the forced `</think>` (which is not part of either).
    assert answer
    assert finished.usage.completion_tokens == 24
    _, _, unbounded = await collect(thinking_engine.start(request(thinking=True)))
    full = "".join(e.text for e in unbounded if isinstance(e, ThinkingDelta))
    assert thinking_tokens(thinking_engine, full) > budget
    assert full.startswith(thinking.rstrip())  # greedy: the same reasoning, cut short


async def test_budget_without_thinking_changes_nothing(thinking_engine: MLXEngine) -> None:
    capped, _, _ = await collect(thinking_engine.start(request(thinking=False, budget=2)))
    free, _, _ = await collect(thinking_engine.start(request(thinking=False)))
    assert capped == free


async def test_replayed_reasoning_is_rendered_and_counted(thinking_engine: MLXEngine) -> None:
    turn = GenerationRequest(
        messages=(
            Message("user", (TextPart("What is 2+2?"),)),
            Message("assistant", (ThinkingPart("two plus two", "sig"), TextPart("4"))),
            Message("user", (TextPart("And 3+3?"),)),
        ),
        sampling=SamplingParams(max_tokens=4, temperature=0.0),
    )
    rendered = thinking_engine._renderer.render(turn)
    assert "<think>\ntwo plus two\n</think>\n4<|im_end|>" in rendered.text
    _, finished, _ = await collect(thinking_engine.start(turn))
    assert finished.usage.prompt_tokens == await thinking_engine.count_tokens(turn)
