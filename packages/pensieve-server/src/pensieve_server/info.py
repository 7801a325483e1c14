"""``/health``, ``/``, ``/metrics``, ``/v1/models`` and ``/v1/models/{id}``."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pensieve_api import HealthResponse, ModelHealth, RankHealth, encoder
from pensieve_api.anthropic.responses import ModelEntry, ModelList
from pensieve_core import EngineStats
from pensieve_server.state import AppState, app_state


def _entry(state: AppState, name: str, served: str) -> ModelEntry:
    created = int(state.started)
    return ModelEntry(
        id=name,
        display_name=name if name == served else f"{name} -> {served}",
        created_at=datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z"),
        created=created,
    )


async def list_models(request: Request) -> Response:
    """The served models, their aliases and the name patterns routed to them."""
    state = app_state(request)
    entries = [_entry(state, name, served) for name, served in state.models.names()]
    page = ModelList(data=entries, has_more=False, first_id=entries[0].id, last_id=entries[-1].id)
    return Response(encoder.encode(page), media_type="application/json")


async def get_model(request: Request) -> Response:
    """One model by name (any name that reaches a served model)."""
    state = app_state(request)
    name = request.path_params["model_id"]
    served = state.models.route(name)
    return Response(encoder.encode(_entry(state, name, served)), media_type="application/json")


def model_rows(state: AppState) -> list[ModelHealth]:
    """Every served model's row (``/health`` and ``GET /v1/pensieve/models``)."""
    rows = []
    for row in state.models.status():
        info = state.models.info(row.name)
        rate = state.observer.recent_decode_tokens_per_s(row.name) if state.observer else 0.0
        rows.append(
            ModelHealth(
                name=row.name,
                state=row.state,
                default=row.default,
                fast=row.fast,
                aliases=list(row.aliases),
                routes=list(row.routes),
                requests=row.requests,
                active_sequences=row.active_sequences,
                queued_requests=row.queued_requests,
                model_bytes=row.model_bytes,
                idle_s=row.idle_s,
                context_length=info.context_length if info is not None else 0,
                decode_tokens_per_s=rate,
            )
        )
    return rows


async def health(request: Request) -> Response:
    """Liveness and what is served (the default model's figures, then every model's); no auth."""
    state = app_state(request)
    models = state.models
    info = models.info(models.default)
    engine = models.default_engine()
    stats = engine.stats() if engine is not None else EngineStats()
    body = HealthResponse(
        status="ok",
        name="pensieve",
        pid=os.getpid(),
        model=models.default,
        context_length=info.context_length if info is not None else 0,
        device=info.device if info is not None else "",
        precision=info.precision if info is not None else "",
        uptime_s=round(time.time() - state.started, 1),
        requests_served=state.requests_served,
        active_sequences=stats.active_sequences,
        queued_requests=stats.queued_requests,
        prefix_cache_hit_rate=(
            stats.prefix_cache_hits / stats.prefix_cache_lookups
            if stats.prefix_cache_lookups
            else 0.0
        ),
        active_memory_bytes=stats.active_memory_bytes,
        peak_memory_bytes=stats.peak_memory_bytes,
        cache_memory_bytes=stats.cache_memory_bytes,
        model_bytes=stats.model_bytes,
        prefix_cache_bytes=stats.prefix_cache_bytes,
        prefix_cache_entries=stats.prefix_cache_entries,
        decode_tokens_per_s=(
            state.observer.recent_decode_tokens_per_s(models.default) if state.observer else 0.0
        ),
        models=model_rows(state),
        group=stats.group,
        ranks=[
            RankHealth(
                rank=r.rank,
                host=r.host,
                pid=r.pid,
                active_memory_bytes=r.active_memory_bytes,
                peak_memory_bytes=r.peak_memory_bytes,
                alive=r.alive,
            )
            for r in stats.ranks
        ],
        error=stats.unavailable,
        warming_up=stats.warming_up,
    )
    if stats.unavailable:  # a group that lost a rank: load balancers and `status` must see it
        body = msgspec.structs.replace(body, status="unavailable")
    status = 503 if stats.unavailable else 200
    return Response(encoder.encode(body), status_code=status, media_type="application/json")


async def root(request: Request) -> Response:
    """``GET /`` and ``HEAD /``: a one-line hello (Claude Code probes it)."""
    return JSONResponse({"name": "pensieve", "model": app_state(request).models.default})


async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition, when metrics are wired in."""
    state = app_state(request)
    if state.observer is None:
        raise HTTPException(404, "metrics are not enabled on this server")
    body, content_type = state.observer.exposition()
    return Response(body, headers={"content-type": content_type})
