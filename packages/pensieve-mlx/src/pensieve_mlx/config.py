"""Configuration of the MLX engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import msgspec

MIB = 1024 * 1024
GIB = 1024 * MIB

Precision = Literal["auto", "float32", "float16", "bfloat16", "quantized"]
ToolGrammar = Literal["lazy", "always", "forced", "off"]
Speculation = Literal["off", "prompt-lookup", "draft-model"]
KVBits = Annotated[int, msgspec.Meta(ge=0, le=8, multiple_of=4)]
"""0, 4 or 8."""
# Constraints as types: msgspec enforces them wherever the config is decoded (file, env, flags).
Count = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(gt=0, le=1)]
"""A fraction of the worker's time, above 0 and at most 1."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MLXEngineConfig:
    """How the engine runs. Every field has a key of the same name under ``[engine]``.

    Each field's ``metadata["help"]`` is its documentation (the CLI and the reference show it).
    """

    max_active_sequences: Count = field(
        default=32, metadata={"help": "Sequences decoded together in one batch."}
    )
    max_queued_requests: Count = field(
        default=64,
        metadata={
            "help": "Requests waiting for a slot; one more is refused with the overloaded error."
        },
    )
    prefill_step_size: Count = field(
        default=512,
        metadata={
            "help": "Prompt tokens per forward pass while prefilling (bounds memory and keeps "
            "decode flowing)."
        },
    )
    prefill_batch_size: Count = field(
        default=8,
        metadata={
            "help": "New prompts prefilled together in one batch, at least; more while their "
            "uncached tokens fit ``prefill-batch-tokens``."
        },
    )
    prefill_batch_tokens: Count = field(
        default=2048,
        metadata={
            "help": "Uncached prompt tokens one batched prefill may take beyond "
            "``prefill-batch-size`` prompts: a burst of short prompts is prefilled in one pass "
            "(up to ``max-active-sequences``), so its streams decode together from the start "
            "instead of a few at a time. The default is eight prompts of ``long-prompt-tokens``, "
            "the longest a pass is otherwise."
        },
    )
    arrival_window_s: Seconds = field(
        default=0.01,
        metadata={
            "help": "When a request wakes an idle engine, how long it waits for others that "
            "arrive with it (a burst of parallel requests), so that they are prefilled as one "
            "batch instead of the first alone while the rest wait; it waits again while they "
            "keep coming, at most four times this in all. 0: start at once."
        },
    )
    single_sequence_fast_path: bool = field(
        default=True,
        metadata={
            "help": "While one sequence is the whole batch, decode it on a plain KV cache as "
            "mlx-lm's generate_step does (fused attention, the next step queued before the "
            "token is read); it joins the batch the moment a second request arrives."
        },
    )
    speculation: Speculation = field(
        default="off",
        metadata={
            "help": "``prompt-lookup``: a sequence decoding alone, greedy and unconstrained, "
            "drafts the tokens that followed the last few tokens earlier in its context (edits "
            "and tool results repeat what they quote) and checks them in one forward pass; the "
            "output is the model's own. The draft length follows the measured acceptance, and "
            "it pauses while it is slower than plain decoding. ``draft-model``: the same, with "
            "drafts from ``draft-model`` (the default when that is set)."
        },
    )
    speculation_max_tokens: Count = field(
        default=8, metadata={"help": "Longest draft checked in one pass."}
    )
    draft_model: str = field(
        default="",
        metadata={
            "help": "A small model with the served model's vocabulary (a path, or any name "
            "``--model`` takes) that drafts greedily for ``draft-model`` speculation; it keeps "
            "its own KV cache of the sequence and is held at the served model's precision."
        },
    )
    long_prompt_tokens: Count = field(
        default=256,
        metadata={
            "help": "A prompt with more uncached tokens than this is prefilled apart from the "
            "batch, a time slice at a time between decode steps (shorter ones are prefilled "
            "together in the batch)."
        },
    )
    prefill_slice_s: Seconds = field(
        default=0.25,
        metadata={
            "help": "About how long one slice of a long prefill runs before the batch's next "
            "decode step; its chunk follows the measured prefill rate, up to prefill-step-size. "
            "Bounds how long running streams and newly arrived requests wait."
        },
    )
    prefill_share: Share = field(
        default=0.5,
        metadata={
            "help": "While other sequences decode, about the share of the engine's time a long "
            "prefill takes: after a slice, decode steps run for the rest before the next one, so "
            "running streams keep about 1 - share of their speed and the prefill takes about "
            "1 / share as long. 1: one slice after every decode step."
        },
    )
    short_request_tokens: Count = field(
        default=16,
        metadata={
            "help": "Requests with at most this many max_tokens (Claude Code's probes and "
            "titles) run ahead of long prefills, which wait while they decode."
        },
    )
    precision: Precision = field(
        default="auto",
        metadata={
            "help": "``auto``: float32 weights on the CPU (MLX's quantized and float16 CPU "
            "kernels are slow), the stored (usually quantized) weights on Metal and CUDA."
        },
    )
    max_output_tokens: Count = field(
        default=4096,
        metadata={
            "help": "Upper bound for ``max_tokens``; larger requests (Claude Code sends 32000) "
            "are clamped."
        },
    )
    max_context_tokens: Count = field(
        default=0,
        metadata={
            "help": "Cap on the context window below the model's own (0: the model's window). "
            "Longer prompts get the prompt-too-long error, as on a model with this window."
        },
    )
    min_output_tokens: Count = field(
        default=256,
        metadata={
            "help": "Room kept for the answer: a prompt longer than the context minus this is "
            "refused."
        },
    )
    prefix_cache_bytes: Count = field(
        default=2 * GIB,
        metadata={
            "help": "Byte budget of the prefix KV cache (least recently used prompts are "
            "evicted); 0 disables it."
        },
    )
    prefix_cache_entries: Count = field(
        default=64,
        metadata={
            "help": "Most branches (distinct sequences) the prefix cache keeps; their shared "
            "prefixes are held once."
        },
    )
    kv_bits: KVBits = field(
        default=0,
        metadata={
            "help": "Bits the prefix cache keeps its KV in: 8 or 4 (MLX's affine quantization, "
            "groups of 64), 0 for as computed. A long session's cached prefixes then take about a "
            "half or a quarter of the memory; a reused prefix is dequantized, so answers may "
            "differ slightly from a fresh prefill. The running batch's KV stays as computed "
            "(mlx-lm's batch generator has no quantized KV)."
        },
    )
    prefix_cache_dir: str = field(
        default="",
        metadata={
            "help": "Where snapshots of stable prompt prefixes (the end of the system prompt and "
            "tools) are kept across restarts, a directory per model. Empty: ``prefix-cache`` in "
            "the user's cache directory (``$PENSIEVE_CACHE_DIR`` overrides that)."
        },
    )
    weights_cache_dir: str = field(
        default="",
        metadata={
            "help": "Where quantized weights dequantized for this device (float32 on the CPU) "
            "are kept, so the next start reads them instead of converting again. Empty: "
            "``weights`` in the user's cache directory (``$PENSIEVE_CACHE_DIR`` overrides that)."
        },
    )
    tokenizer_cache_dir: str = field(
        default="",
        metadata={
            "help": "Where each model's tokenizer, as built at its first start, is kept, so the "
            "next start reads it instead of building it again (a start of Qwen2.5-Coder-0.5B "
            "on 2 CPU cores: 3.05 -> 2.20 s). Empty: ``tokenizers`` in the user's cache "
            "directory (``$PENSIEVE_CACHE_DIR`` overrides that)."
        },
    )
    prefix_cache_disk_bytes: Count = field(
        default=8 * GIB,
        metadata={
            "help": "Byte budget of the snapshots on disk (least recently used go first); 0 "
            "keeps none."
        },
    )
    prefix_cache_disk_min_tokens: Count = field(
        default=256,
        metadata={"help": "Shorter prefixes are not written to disk (re-reading them is cheap)."},
    )
    tool_grammar: ToolGrammar = field(
        default="lazy",
        metadata={
            "help": "How tool calls are constrained. ``lazy``: forced calls (tool_choice "
            "any/tool) run under the call grammar, and under ``auto`` every call the model opens "
            "is completed under it; ``always``: a request with tools must answer with a call "
            "unless its last turn hands back tool results (for small models that cannot choose "
            "tools reliably; after the results they answer in text, so an agent loop ends); "
            "``forced``: only forced calls; ``off``: never."
        },
    )
    progress_interval_s: Seconds = field(
        default=0.5,
        metadata={"help": "How often prefill progress is reported for long prompts."},
    )

    @property
    def drafting(self) -> Speculation:
        """The speculation in effect: a ``draft-model`` alone turns draft-model speculation on."""
        if self.speculation == "off" and self.draft_model:
            return "draft-model"
        return self.speculation


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What the engine is told about the model it loads (the app takes it from the loader)."""

    name: str
    """The name the server reports."""
    path: Path
    """The MLX model directory."""
    context_length: int
    """The model's window, from its config."""
    supports_tools: bool
    """Its chat template renders ``tools`` (else the fallback tool prompt is used)."""
