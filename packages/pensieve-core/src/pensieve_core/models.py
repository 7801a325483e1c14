"""Descriptions of a served model and of an engine's live state."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a loaded model is and how it runs."""

    id: str
    """The served model's own name."""
    context_length: int
    max_output_tokens: int
    architecture: str = ""
    device: str = "cpu"
    """``cpu``, ``gpu`` (Metal or CUDA)."""
    precision: str = ""
    """How weights are held, e.g. ``float32 (dequantized from 4-bit)`` or ``4-bit affine``."""
    supports_tools: bool = False
    """Whether the chat template renders tools natively (otherwise a fallback format is used)."""
    supports_vision: bool = False
    load_time_s: float = 0.0
    path: str = ""


@dataclass(frozen=True, slots=True)
class RankStats:
    """One process of an engine that runs over several (a distributed group)."""

    rank: int
    host: str
    pid: int
    active_memory_bytes: int = 0
    peak_memory_bytes: int = 0
    alive: bool = True


@dataclass(frozen=True, slots=True)
class EngineStats:
    """A snapshot of an engine's live figures."""

    active_sequences: int = 0
    queued_requests: int = 0
    prefix_cache_entries: int = 0
    prefix_cache_bytes: int = 0
    prefix_cache_hits: int = 0
    prefix_cache_lookups: int = 0
    active_memory_bytes: int = 0
    peak_memory_bytes: int = 0
    cache_memory_bytes: int = 0
    """Freed buffers the array library keeps for reuse (MLX's buffer cache)."""
    model_bytes: int = 0
    """The weights as loaded."""
    drafted_tokens: int = 0
    """Tokens speculation drafted and the model checked."""
    accepted_draft_tokens: int = 0
    """Drafted tokens the model agreed with (each one a forward pass saved)."""
    group: str = ""
    """How the model is split over processes, e.g. ``tensor parallel, 2 ranks, ring``."""
    ranks: tuple[RankStats, ...] = ()
    """The group's processes (none when the engine runs in one)."""
    unavailable: str = ""
    """Why the engine cannot serve at all now (a rank of its group is gone)."""
    warming_up: bool = False
    """Its start-up work (GPU kernels loading) has yet to complete; it runs only while idle."""
