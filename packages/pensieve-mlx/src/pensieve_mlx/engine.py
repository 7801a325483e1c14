"""``MLXEngine``: the core ``Engine`` protocol on MLX, as an asyncio facade over the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.models.cache import make_prompt_cache

from pensieve_core import (
    ContextLengthExceededError,
    EngineStats,
    GenerationRequest,
    InvalidRequestError,
    ModelInfo,
    ModelLoadError,
    OverloadedError,
    RankStats,
)
from pensieve_mlx.config import MLXEngineConfig, ServedModel
from pensieve_mlx.distributed import Lockstep, RankState, parallel_mode, shard_model
from pensieve_mlx.generation import MLXGeneration
from pensieve_mlx.grammar import (
    CALL_CLOSE,
    CALL_OPEN,
    GrammarFactory,
    answer_grammar,
    check_tool_schemas,
    forced_call_grammar,
    lazy_call_grammar,
)
from pensieve_mlx.jobs import Job
from pensieve_mlx.loading import Caches, LoadedModel, load_model
from pensieve_mlx.markers import ModelMarkers
from pensieve_mlx.prefix_disk import DiskPrefixes, model_identity
from pensieve_mlx.prompt import PromptRenderer, RenderedPrompt
from pensieve_mlx.prose import ForcedPrefix, ProseStart, prose_start_mask
from pensieve_mlx.read_ahead import ReadAhead
from pensieve_mlx.sampling import sampler_for
from pensieve_mlx.stops import StopMatcher
from pensieve_mlx.text_stream import TextRouter
from pensieve_mlx.thinking import ThinkingBudget
from pensieve_mlx.warmup import warm_up
from pensieve_mlx.worker import Worker


def _answers_tool_result(request: GenerationRequest) -> bool:
    """Whether the last turn hands back tool results (the model should now answer in text)."""
    return bool(request.messages) and request.messages[-1].hands_back_tool_results


def _check_draft(served: LoadedModel, draft: LoadedModel, name: str) -> None:
    """A draft's tokens are checked against the served model's: the ids must mean the same."""
    if not all(layer.is_trimmable() for layer in make_prompt_cache(draft.model)):
        raise ModelLoadError(
            f"engine.draft-model {name!r}: its KV cache cannot be cut back (sliding windows)"
        )
    ours = served.tokenizer._tokenizer.get_vocab()
    theirs = draft.tokenizer._tokenizer.get_vocab()
    if ours != theirs:
        raise ModelLoadError(
            f"engine.draft-model {name!r} has another vocabulary than the served model "
            f"({len(theirs)} tokens against {len(ours)}, or the same count with other ids)"
        )


class MLXEngine:
    """Runs one model with continuous batching. Create with ``MLXEngine.load``."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        served: ServedModel,
        config: MLXEngineConfig,
        draft: LoadedModel | None = None,
        lockstep: Lockstep | None = None,
    ) -> None:
        self._loaded = loaded
        self._lockstep = lockstep
        self._config = config
        tokenizer = loaded.tokenizer
        native_tools = served.supports_tools
        self._markers = ModelMarkers.from_tokenizer(tokenizer, native_tools=native_tools)
        self._renderer = PromptRenderer(
            tokenizer, native_tools=native_tools, think_start=self._markers.think_start
        )
        model_config = getattr(loaded.model, "args", None)
        raw = vars(model_config) if model_config is not None else {}
        self._vocab_size = int(raw.get("vocab_size") or len(tokenizer.vocabulary))
        self._eos_ids = frozenset(int(e) for e in tokenizer.eos_token_ids)
        self._info = ModelInfo(
            id=served.name,
            context_length=min(served.context_length, config.max_context_tokens)
            if config.max_context_tokens
            else served.context_length,
            max_output_tokens=config.max_output_tokens,
            architecture=str(raw.get("model_type", "")),
            device=loaded.device,
            precision=loaded.precision,
            supports_tools=native_tools,
            supports_vision=False,
            load_time_s=loaded.load_time_s,
            path=str(served.path),
        )
        self._grammars: GrammarFactory | None = None
        self._prose: Any = None
        self._think_tokens = self._thinking_tokens(tokenizer)
        self._model_bytes = sum(int(a.nbytes) for _, a in tree_flatten(loaded.model.parameters()))
        disk = None
        # A group keeps no snapshots on disk: each rank would find its own at its own time.
        if config.prefix_cache_dir and config.prefix_cache_disk_bytes > 0 and lockstep is None:
            identity = model_identity(served.path, loaded.precision)
            disk = DiskPrefixes(
                Path(config.prefix_cache_dir) / identity[:16],
                identity=identity,
                max_bytes=config.prefix_cache_disk_bytes,
            )
        self._worker = Worker(
            loaded.model,
            self._eos_ids,
            config,
            disk,
            draft=draft.model if draft else None,
            lockstep=lockstep,
            follow=self._job if lockstep is not None and lockstep.rank > 0 else None,
            # GPU devices only (see warmup.py), on the worker thread while it is idle.
            warm_up=(
                lambda interrupted: warm_up(loaded.model, config, self._vocab_size, interrupted)
            )
            if loaded.device != "cpu"
            else None,
        )
        if lockstep is not None and lockstep.rank == 0:
            lockstep.watch(self._worker.lose)

    @classmethod
    def load(
        cls,
        served: ServedModel,
        config: MLXEngineConfig | None = None,
        *,
        group: Any = None,
        read: ReadAhead | None = None,
    ) -> MLXEngine:
        """Load the model directory ``served.path``.

        ``group``: this process is one rank of an ``mx.distributed`` group (``distributed.py``),
        and keeps its share of the model. ``read``: its weights, read while this was imported.
        """
        config = config or MLXEngineConfig()
        cache = Caches.of(config)
        if group is not None:
            return cls._load_rank(served, config, cache, group)
        loaded = load_model(served.path, config.precision, caches=cache, read=read)
        draft = None
        if config.drafting == "draft-model":
            if not config.draft_model:
                raise ModelLoadError("engine.speculation = draft-model needs engine.draft-model")
            draft = load_model(Path(config.draft_model), config.precision, caches=cache)
            _check_draft(loaded, draft, config.draft_model)
        return cls(loaded, served=served, config=config, draft=draft)

    @classmethod
    def _load_rank(
        cls, served: ServedModel, config: MLXEngineConfig, cache: Caches, group: Any
    ) -> MLXEngine:
        if config.drafting != "off":
            raise ModelLoadError(
                "engine.speculation is not available across ranks (its pacing follows each "
                "rank's own timing); turn it off to serve with --ranks or --distributed"
            )
        mode = parallel_mode()
        lockstep = Lockstep.from_environment(group)

        def shard(model: Any) -> str:
            lockstep.parallel = shard_model(model, group, mode)
            return lockstep.parallel

        loaded = load_model(served.path, config.precision, caches=cache, shard=shard)
        lockstep.connect()
        return cls(loaded, served=served, config=config, lockstep=lockstep)

    @property
    def ranks(self) -> list[RankState]:
        """The ranks of the engine's group (none when it runs in one process)."""
        return list(self._lockstep.ranks.values()) if self._lockstep is not None else []

    @property
    def broken(self) -> str | None:
        """Why the engine cannot serve (a rank of its group is gone), if it cannot."""
        return self._worker.broken

    def follow(self) -> None:
        """A follower rank: run rank 0's iterations until it stops or is gone."""
        self._worker.join()

    @property
    def info(self) -> ModelInfo:
        """The loaded model."""
        return self._info

    async def count_tokens(self, request: GenerationRequest) -> int:
        """Tokens of the prompt exactly as ``generate`` renders it."""
        rendered = await asyncio.to_thread(self._renderer.render, request)
        return len(rendered.tokens)

    def stats(self) -> EngineStats:
        """Live figures."""
        cache = self._worker.prefix_cache
        return EngineStats(
            active_sequences=self._worker.active,
            queued_requests=self._worker.queued,
            prefix_cache_entries=len(cache),
            prefix_cache_bytes=cache.nbytes,
            prefix_cache_hits=cache.hits,
            prefix_cache_lookups=cache.lookups,
            active_memory_bytes=int(mx.get_active_memory()),
            peak_memory_bytes=int(mx.get_peak_memory()),
            cache_memory_bytes=int(mx.get_cache_memory()),
            model_bytes=self._model_bytes,
            drafted_tokens=self._worker.drafted_tokens,
            accepted_draft_tokens=self._worker.accepted_draft_tokens,
            warming_up=self._worker.warming_up,
            group=self._lockstep.describe() if self._lockstep is not None else "",
            ranks=tuple(
                RankStats(
                    rank=r.rank,
                    host=r.host,
                    pid=r.pid,
                    active_memory_bytes=int(mx.get_active_memory()) if r.rank == 0 else r.active,
                    peak_memory_bytes=int(mx.get_peak_memory()) if r.rank == 0 else r.peak,
                    alive=r.alive,
                )
                for r in self.ranks
            ),
            unavailable=self._worker.broken or "",
        )

    async def aclose(self) -> None:
        """Stop the worker; running requests end with an engine error."""
        await asyncio.to_thread(self._worker.stop)

    # --- internals ----------------------------------------------------------------------

    def _budget(self, prompt: RenderedPrompt, request: GenerationRequest) -> tuple[int, bool]:
        """Tokens the answer may take, and whether the window (not the request) sets that."""
        context = self._info.context_length
        wanted = max(1, request.sampling.max_tokens)
        # Room kept for the answer; small windows keep at most half of themselves for it.
        limit = context - min(self._config.min_output_tokens, wanted, context // 2)
        if len(prompt.tokens) > limit:
            raise ContextLengthExceededError(len(prompt.tokens), limit)
        asked = min(wanted, self._config.max_output_tokens)
        left = context - len(prompt.tokens)
        return min(asked, left), left < asked

    def _thinking_tokens(self, tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The token sequences that open and close the model's reasoning."""
        if getattr(tokenizer, "has_thinking", False):
            return tuple(tokenizer.think_start_tokens), tuple(tokenizer.think_end_tokens)
        start, end = self._markers.think_start, self._markers.think_end
        encode = tokenizer.encode
        return tuple(encode(start, add_special_tokens=False)), tuple(
            encode(end, add_special_tokens=False)
        )

    def _budget_processor(
        self, request: GenerationRequest, prompt: RenderedPrompt
    ) -> list[ThinkingBudget]:
        if request.thinking_budget <= 0 or request.thinking is False:
            return []
        start, end = self._think_tokens
        return [
            ThinkingBudget(
                request.thinking_budget, start=start, end=end, inside=prompt.starts_thinking
            )
        ]

    def _processors(self, request: GenerationRequest) -> tuple[list[Any], bool]:
        if request.answer_prefix:
            encode = self._loaded.tokenizer._tokenizer.encode
            ids = [int(i) for i in encode(request.answer_prefix, add_special_tokens=False)]
            return [ForcedPrefix(ids)], False
        mode, policy = request.tool_choice.mode, self._config.tool_grammar
        if request.response_schema is not None and mode not in ("any", "tool"):
            return [self._grammar(answer_grammar(request.response_schema))], False
        if not request.tools or mode == "none" or policy == "off":
            return [], False
        tools = request.tools
        if mode == "tool":
            tools = tuple(t for t in tools if t.name == request.tool_choice.name)
        check_tool_schemas(tools)
        markers = self._factory().call_markers
        if mode in ("any", "tool") or (policy == "always" and not _answers_tool_result(request)):
            lark = forced_call_grammar(tools, markers)
        elif policy == "lazy":
            lark = lazy_call_grammar(tools, markers)
        elif policy == "always":
            # After the results: an answer in prose, not the same call again written as text.
            return [ProseStart(self._prose_mask())], False
        else:
            return [], False
        return [self._grammar(lark)], True

    def _prose_mask(self) -> Any:
        if self._prose is None:
            tokenizer = self._loaded.tokenizer._tokenizer
            markers = set()
            for text in (CALL_OPEN, CALL_CLOSE):
                ids = tokenizer.encode(text, add_special_tokens=False)
                if len(ids) == 1:  # a special token (Qwen's <tool_call>)
                    markers.add(int(ids[0]))
            self._prose = prose_start_mask(tokenizer, self._vocab_size, self._eos_ids | markers)
        return self._prose

    def _factory(self) -> GrammarFactory:
        if self._grammars is None:
            self._grammars = GrammarFactory(self._loaded.tokenizer._tokenizer, self._vocab_size)
        return self._grammars

    def _grammar(self, lark: str) -> Any:
        return self._factory().processor(lark)

    def _prepare(
        self, request: GenerationRequest
    ) -> tuple[RenderedPrompt, tuple[int, bool], list[Any], bool]:
        prompt = self._renderer.render(request)
        budget = self._budget(prompt, request)
        processors, constrained = self._processors(request)
        return prompt, budget, [*self._budget_processor(request, prompt), *processors], constrained

    async def start(self, request: GenerationRequest) -> MLXGeneration:
        """Render and submit ``request`` (see ``pensieve_core.Engine.start``)."""
        choice = request.tool_choice
        if choice.mode == "tool" and choice.name not in {t.name for t in request.tools}:
            raise InvalidRequestError(f"tool_choice names {choice.name!r}, which is not in tools")
        job = await asyncio.to_thread(self._job, request)
        generation = MLXGeneration(job, self._worker)
        if not self._worker.submit(job):
            raise OverloadedError(
                f"the engine queue is full ({self._config.max_queued_requests} requests waiting)"
            )
        return generation

    def _job(self, request: GenerationRequest) -> Job:
        """The worker's job for ``request`` (the ranks of a group each make it alike)."""
        prompt, (budget, window_bound), processors, constrained = self._prepare(request)
        # A structured answer is text, even when it looks like a call to one of the tools.
        calls = request.tool_choice.mode != "none" and request.response_schema is None
        tool_names = [t.name for t in request.tools] if calls else []
        return Job(
            request=request,
            prompt=prompt,
            max_tokens=budget,
            window_bound=window_bound,
            sampler=sampler_for(request.sampling, self._vocab_size),
            processors=processors,
            detokenizer=self._loaded.tokenizer.detokenizer,
            router=TextRouter(
                tool_names=tool_names,
                tools=request.tools,
                markers=self._markers,
                thinking=prompt.starts_thinking,
                stream_args=constrained,
                max_calls=0 if request.tool_choice.parallel else 1,
            ),
            stops=StopMatcher(request.sampling.stop),
            prefill_only=request.sampling.max_tokens == 0,
            caching=self._config.prefix_cache_bytes > 0 and self._config.prefix_cache_entries > 0,
        )
