"""The console's routes: the page and its assets (public: they hold no data), and its JSON.

The JSON routes sit behind the same auth as the API; the page sends the key it was given in a
header on every call (same-origin ``fetch``), so the browser guard stays on for them.
"""

from __future__ import annotations

import time
from functools import cache
from importlib.resources import files

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pensieve_api import ConsoleStats, RequestList, encoder
from pensieve_server.info import root as hello
from pensieve_server.state import app_state

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Nothing but this server's own files and API: no inline script, nothing from elsewhere."""
_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # A new server version brings new assets: revalidate rather than run a stale script.
    "cache-control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return files("pensieve_server.console").joinpath("assets", name).read_bytes()


def _file(name: str, *, vary: bool = False) -> Response:
    headers = {**_HEADERS, "vary": "accept"} if vary else _HEADERS
    return Response(_read(name), media_type=_TYPES[name], headers=headers)


def prefers_html(accept: str) -> bool:
    """Whether an ``Accept`` header ranks ``text/html`` above JSON (a browser, not a script).

    ``*/*`` (curl, SDKs) and ``application/json`` keep getting JSON; a tie goes to JSON.
    """
    ranks: dict[str, float] = {}
    for item in accept.lower().split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranks[kind] = max(q, ranks.get(kind, 0.0))
    return ranks.get("text/html", 0.0) > ranks.get("application/json", 0.0)


async def root(request: Request) -> Response:
    """``GET /``: the console for browsers, the JSON hello for everyone else."""
    if prefers_html(request.headers.get("accept", "")):
        return _file("index.html", vary=True)
    response = await hello(request)
    response.headers["vary"] = "accept"
    return response


async def asset(request: Request) -> Response:
    """``GET /console/{name}``: the console's script and stylesheet."""
    name = request.path_params["name"]
    if name not in _TYPES or name == "index.html":
        raise HTTPException(404, f"no console asset {name!r}")
    return _file(name)


async def stats(request: Request) -> Response:
    """``GET /v1/pensieve/stats``: the live figures, summed over the loaded models."""
    state = app_state(request)
    engines = state.models.loaded_stats()
    totals = state.recent.totals
    hits = sum(s.prefix_cache_hits for s in engines)
    lookups = sum(s.prefix_cache_lookups for s in engines)
    body = ConsoleStats(
        time=time.time(),
        uptime_s=round(time.time() - state.started, 1),
        requests=totals.requests,
        prompt_tokens=totals.prompt_tokens,
        cached_tokens=totals.cached_tokens,
        output_tokens=totals.output_tokens,
        decode_tokens_per_s=round(totals.decode_tokens_per_s, 2),
        ttft_s=round(totals.ttft_s, 4),
        active_sequences=sum(s.active_sequences for s in engines),
        queued_requests=sum(s.queued_requests for s in engines),
        prefix_cache_hits=hits,
        prefix_cache_lookups=lookups,
        prefix_cache_hit_rate=hits / lookups if lookups else 0.0,
        prefix_cache_bytes=sum(s.prefix_cache_bytes for s in engines),
        # Memory figures are the process's (every engine reports the same): not summed.
        active_memory_bytes=max((s.active_memory_bytes for s in engines), default=0),
        peak_memory_bytes=max((s.peak_memory_bytes for s in engines), default=0),
        cache_memory_bytes=max((s.cache_memory_bytes for s in engines), default=0),
        model_bytes=sum(s.model_bytes for s in engines),
    )
    return Response(encoder.encode(body), media_type="application/json")


async def recent_requests(request: Request) -> Response:
    """``GET /v1/pensieve/requests``: the recent generation requests, newest first."""
    recent = app_state(request).recent
    body = RequestList(data=recent.rows(), capacity=recent.capacity)
    return Response(encoder.encode(body), media_type="application/json")


async def recent_request(request: Request) -> Response:
    """``GET /v1/pensieve/requests/{id}``: one recent request with its redacted shape."""
    rid = request.path_params["request_id"]
    detail = app_state(request).recent.get(rid)
    if detail is None:
        raise HTTPException(404, f"request {rid!r} is not among the recent requests")
    return Response(encoder.encode(detail), media_type="application/json")
