"""Configuration of the MLX engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MIB = 1024 * 1024
GIB = 1024 * MIB

Precision = Literal["auto", "float32", "float16", "bfloat16", "quantized"]
ToolGrammar = Literal["lazy", "always", "forced", "off"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MLXEngineConfig:
    """How the engine runs. Every field has a key of the same name under ``[engine]``."""

    max_active_sequences: int = 32
    """Sequences decoded together in one batch."""
    max_queued_requests: int = 64
    """Requests waiting for a slot; one more is refused with the overloaded error."""
    prefill_step_size: int = 512
    """Prompt tokens per forward pass while prefilling (bounds memory and keeps decode flowing)."""
    prefill_batch_size: int = 8
    """New prompts prefilled together in one batch."""
    precision: Precision = "auto"
    """``auto``: float32 weights on the CPU (MLX's quantized and float16 CPU kernels are slow),
    the stored (usually quantized) weights on Metal and CUDA."""
    max_output_tokens: int = 4096
    """Upper bound for ``max_tokens``; larger requests (Claude Code sends 32000) are clamped."""
    min_output_tokens: int = 256
    """Room kept for the answer: a prompt longer than the context minus this is refused."""
    prefix_cache_bytes: int = 2 * GIB
    """Byte budget of the prefix KV cache (least recently used prompts are evicted); 0 disables it."""
    prefix_cache_entries: int = 32
    """Most prompts the prefix cache keeps."""
    tool_grammar: ToolGrammar = "lazy"
    """How tool calls are constrained. ``lazy``: forced calls (tool_choice any/tool) run under the
    call grammar, and under ``auto`` every call the model opens is completed under it; ``always``:
    a request with tools must answer with a call unless its last turn hands back tool results (for
    small models that cannot choose tools reliably; after the results they answer in text, so an
    agent loop ends); ``forced``: only forced calls; ``off``: never."""
    progress_interval_s: float = 0.5
    """How often prefill progress is reported for long prompts."""
