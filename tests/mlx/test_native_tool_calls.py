"""Model markers from mlx-lm's tokenizer, and native tool calls in each format mlx-lm parses.

Each format gets SmolLM2's tokenizer with a chat template that makes mlx-lm pick that format's
parser; the model-style output is tokenized and streamed back through mlx-lm's detokenizer, one
token at a time, as the engine does.
"""

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mlx_lm.tokenizer_utils import TokenizerWrapper
from mlx_lm.tokenizer_utils import load as load_tokenizer

from pensieve_core import (
    GenerationEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
)
from pensieve_mlx import MLXEngine
from pensieve_mlx.markers import HERMES, ModelMarkers
from pensieve_mlx.text_stream import TextRouter

TOOLS = (
    ToolSpec(
        "get_weather",
        "Weather for a city",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    ),
    ToolSpec(
        "add",
        "Add two numbers",
        {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "integer"}}},
    ),
)
NAMES = [t.name for t in TOOLS]

# format: (template text that selects the parser, marker tokens, model output, calls, text)
FORMATS: dict[str, tuple[str, tuple[str, ...], str, list[tuple[str, object]], str]] = {
    "json_tools": (
        "<tool_call>{{ tool_call.name }}</tool_call>",
        ("<tool_call>", "</tool_call>"),
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        "</tool_call>",
        [("get_weather", {"city": "Paris"})],
        "Let me check.\n",
    ),
    "qwen3_coder": (
        "<tool_call>\n<function={{ tool_call.name }}>",
        ("<tool_call>", "</tool_call>"),
        "Adding.\n<tool_call>\n<function=add>\n<parameter=a>\n2.5\n</parameter>\n"
        "<parameter=b>\n3\n</parameter>\n</function>\n</tool_call>",
        [("add", {"a": 2.5, "b": 3})],  # typed by the tool's schema
        "Adding.\n",
    ),
    "mistral": (
        "[TOOL_CALLS]{{ tool_call.name }}[ARGS]",
        ("[TOOL_CALLS]", "[ARGS]"),
        '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}',
        [("get_weather", {"city": "Paris"}), ("add", {"a": 1, "b": 2})],
        "",
    ),
    "pythonic": (
        "<|tool_call_start|>[{{ tool_call.name }}()]<|tool_call_end|>",
        ("<|tool_call_start|>", "<|tool_call_end|>"),
        '<|tool_call_start|>[get_weather(city="Paris"), add(a=1, b=2)]<|tool_call_end|>'
        "Checking both.",
        [("get_weather", {"city": "Paris"}), ("add", {"a": 1, "b": 2})],
        "Checking both.",
    ),
    "glm47": (
        "<tool_call>{{ tool_call.name }}<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>",
        ("<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>"),
        "<tool_call>add\n<arg_key>a</arg_key>\n<arg_value>1.5</arg_value>\n"
        "<arg_key>b</arg_key>\n<arg_value>2</arg_value>\n</tool_call>",
        [("add", {"a": 1.5, "b": 2})],
        "",
    ),
    "kimi_k2": (
        "<|tool_calls_section_begin|>{{ tool_call.name }}<|tool_calls_section_end|>",
        (
            "<|tool_calls_section_begin|>",
            "<|tool_calls_section_end|>",
            "<|tool_call_begin|>",
            "<|tool_call_argument_begin|>",
            "<|tool_call_end|>",
        ),
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
        '<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|>'
        "<|tool_calls_section_end|>",
        [("get_weather", {"city": "Paris"})],
        "",
    ),
    "minimax_m2": (
        "<minimax:tool_call>{{ tool_call.name }}</minimax:tool_call>",
        ("<minimax:tool_call>", "</minimax:tool_call>"),
        '<minimax:tool_call>\n<invoke name="add">\n<parameter name="a">4</parameter>\n'
        '<parameter name="b">5</parameter>\n</invoke>\n</minimax:tool_call>',
        [("add", {"a": 4, "b": 5})],
        "",
    ),
    "gemma4": (
        "<|tool_call>call:{{ tool_call.name }}{}<tool_call|>",
        ("<|tool_call>", "<tool_call|>", '<|"|>'),
        '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>',
        [("get_weather", {"city": "Paris"})],
        "",
    ),
    "function_gemma": (
        "<start_function_call>call:{{ tool_call.name }}{}<end_function_call>",
        ("<start_function_call>", "<end_function_call>", "<escape>"),
        "<start_function_call>call:get_weather{city:<escape>Paris<escape>}<end_function_call>",
        [("get_weather", {"city": "Paris"})],
        "",
    ),
}


def make_tokenizer(
    root: Path, smol: Path, tools_template: str, tokens: tuple[str, ...] = ()
) -> TokenizerWrapper:
    """SmolLM2's tokenizer with ``tokens`` added and a template that renders tools with
    ``tools_template``, loaded the way mlx-lm loads a model's."""
    root.mkdir()
    shutil.copy(smol / "tokenizer.json", root)
    config = json.loads((smol / "tokenizer_config.json").read_text())
    vocab = len(json.loads((smol / "tokenizer.json").read_text())["model"]["vocab"])
    added = config.setdefault("added_tokens_decoder", {})
    for i, token in enumerate(tokens):
        added[str(vocab + i)] = {"content": token, "special": False, "normalized": False}
    config["chat_template"] = (
        "{% if tools %}{% for tool_call in tools %}" + tools_template + "{% endfor %}{% endif %}"
        "{% for message in messages %}{{ message['content'] }}{% endfor %}"
    )
    (root / "tokenizer_config.json").write_text(json.dumps(config))
    return load_tokenizer(root)


def markers_of(tokenizer: TokenizerWrapper) -> ModelMarkers:
    # As the engine decides it: the template renders tools natively.
    return ModelMarkers.from_tokenizer(tokenizer, native_tools="tools" in tokenizer.chat_template)


def stream(
    tokenizer: TokenizerWrapper, markers: ModelMarkers, output: str, **kwargs: Any
) -> list[GenerationEvent]:
    """Route ``output`` as generated: token by token through mlx-lm's detokenizer."""
    router = TextRouter(tool_names=NAMES, tools=TOOLS, markers=markers, **kwargs)
    detokenizer = tokenizer.detokenizer
    events: list[GenerationEvent] = []
    for token in tokenizer.encode(output, add_special_tokens=False):
        detokenizer.add_token(token)
        events += router.feed(detokenizer.last_segment)
    detokenizer.finalize()
    return events + router.feed(detokenizer.last_segment) + router.finish()


def split_feed(markers: ModelMarkers, output: str, size: int) -> list[GenerationEvent]:
    router = TextRouter(tool_names=NAMES, tools=TOOLS, markers=markers)
    events: list[GenerationEvent] = []
    for i in range(0, len(output), size):
        events += router.feed(output[i : i + size])
    return events + router.finish()


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def calls_of(events: list[GenerationEvent]) -> list[tuple[str, object]]:
    names = {e.index: e.name for e in events if isinstance(e, ToolCallStart)}
    args: dict[int, str] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            args[e.index] = args.get(e.index, "") + e.arguments
    assert {e.index for e in events if isinstance(e, ToolCallEnd)} == set(names)
    return [(names[i], json.loads(args[i])) for i in sorted(names)]


@pytest.fixture(name="tokenizers", scope="module")
def _tokenizers(
    smol_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, TokenizerWrapper]:
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        name: make_tokenizer(root / name, smol_path, template, tokens)
        for name, (template, tokens, *_) in FORMATS.items()
    }


@pytest.mark.parametrize("name", list(FORMATS))
def test_native_format(tokenizers: dict[str, TokenizerWrapper], name: str) -> None:
    tokenizer = tokenizers[name]
    _, _, output, calls, text = FORMATS[name]
    markers = markers_of(tokenizer)
    assert tokenizer.tool_parser.__module__ == f"mlx_lm.tool_parsers.{name}"
    assert (_routing(markers) == HERMES) == (name == "json_tools")
    for events in (stream(tokenizer, markers, output), split_feed(markers, output, 2)):
        assert calls_of(events) == calls
        assert text_of(events) == text


@pytest.mark.parametrize(
    ("name", "output"),
    [
        ("qwen3_coder", "<tool_call>\nno function here\n</tool_call> after"),
        ("qwen3_coder", "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar"),
        ("qwen3_coder", "<tool_call>\n<function=unknown>\n</function>\n</tool_call>"),
        ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Par'),
        ("pythonic", "<|tool_call_start|>[get_weather(city=]<|tool_call_end|> and on"),
        ("glm47", "<tool_call>\n</tool_call>"),
        ("gemma4", "<|tool_call>call:get_weather{city:}<tool_call|>"),
        ("function_gemma", "<start_function_call>call:get_weather{city}<end_function_call>"),
        ("kimi_k2", "<|tool_calls_section_begin|>get_weather<|tool_calls_section_end|>"),
    ],
)
def test_malformed_native_calls_come_back_as_text(
    tokenizers: dict[str, TokenizerWrapper], name: str, output: str
) -> None:
    events = stream(tokenizers[name], markers_of(tokenizers[name]), output)
    assert not any(isinstance(e, ToolCallStart) for e in events)
    assert text_of(events) == output


def test_mistral_marker_is_not_bare_json(tokenizers: dict[str, TokenizerWrapper]) -> None:
    # `[TOOL_CALLS]` opens like a JSON list; a bare list is still recovered as calls.
    markers = markers_of(tokenizers["mistral"])
    bare = '[{"name": "get_weather", "arguments": {"city": "Oslo"}}]'
    assert calls_of(split_feed(markers, bare, 1)) == [("get_weather", {"city": "Oslo"})]
    output = '[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}'
    assert calls_of(split_feed(markers, output, 1)) == [("get_weather", {"city": "Oslo"})]


def test_grammar_streaming_stays_hermes(tokenizers: dict[str, TokenizerWrapper]) -> None:
    # The call grammar writes Hermes JSON: in Qwen3-Coder's own `<tool_call>` too, streamed.
    hermes = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    coder = markers_of(tokenizers["qwen3_coder"])
    router = TextRouter(tool_names=NAMES, tools=TOOLS, markers=coder, stream_args=True)
    events = [e for i in range(0, len(hermes), 2) for e in router.feed(hermes[i : i + 2])]
    events += router.finish()
    assert len([e for e in events if isinstance(e, ToolCallDelta)]) > 3
    assert calls_of(events) == [("get_weather", {"city": "Paris"})]
    # A model whose own opener differs still gets its native calls parsed under a lazy grammar.
    mistral = tokenizers["mistral"]
    output = hermes + '[TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}'
    events = stream(mistral, markers_of(mistral), output, stream_args=True)
    assert calls_of(events) == [("get_weather", {"city": "Paris"}), ("add", {"a": 1, "b": 2})]


def test_thinking_markers_from_the_vocabulary(smol_path: Path, tmp_path: Path) -> None:
    tokenizer = make_tokenizer(
        tmp_path / "think",
        smol_path,
        FORMATS["json_tools"][0],
        ("<|think:start|>", "<|think:end|>", "<tool_call>", "</tool_call>"),
    )
    markers = markers_of(tokenizer)
    assert (markers.think_start, markers.think_end) == ("<|think:start|>", "<|think:end|>")
    output = (
        "<|think:start|>The user wants the weather.<|think:end|>Checking.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    events = stream(tokenizer, markers, output)
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "The user wants the weather."
    assert text_of(events) == "Checking.\n"
    assert calls_of(events) == [("get_weather", {"city": "Paris"})]
    # A template that opened thinking in the prompt: the response starts inside it.
    events = stream(tokenizer, markers, "hmm<|think:end|>4", thinking=True)
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "hmm"
    assert text_of(events) == "4"


def test_template_without_tools_gets_the_fallback_format(smol_path: Path, tmp_path: Path) -> None:
    # The vocabulary alone makes mlx-lm pick pythonic, but the template renders no tools: the
    # fallback prompt asks for Hermes JSON, so that is what is parsed.
    tokenizer = make_tokenizer(
        tmp_path / "no-tools", smol_path, "", ("<|tool_call_start|>", "<|tool_call_end|>")
    )
    assert tokenizer.tool_parser is not None
    assert _routing(ModelMarkers.from_tokenizer(tokenizer, native_tools=False)) == HERMES


def test_embedded_smollm2_gets_the_hermes_markers(smol_engine: MLXEngine) -> None:
    assert _routing(smol_engine._markers) == HERMES
    # Its control tokens are dropped from text; the markers it routes are not.
    assert {"<|im_start|>", "<|endoftext|>"} <= smol_engine._markers.hidden


def _routing(markers: ModelMarkers) -> ModelMarkers:
    """The markers without the hidden special tokens (which every real vocabulary has)."""
    return replace(markers, hidden=frozenset())
