"""``GET /v1/pensieve/models`` and ``POST /v1/pensieve/models/{name}/load|unload``.

What ``pensieve status`` and ``pensieve models load|unload`` talk to: the served models, which
are loaded, and their figures. Behind the API key like the model routes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pensieve_api import encoder
from pensieve_server.info import model_rows
from pensieve_server.state import app_state


async def served_models(request: Request) -> Response:
    """Every served model's row."""
    return Response(encoder.encode(model_rows(app_state(request))), media_type="application/json")


async def load_model(request: Request) -> Response:
    """Load a served model now (waits for the load)."""
    state = app_state(request)
    name = state.models.find(request.path_params["name"])
    await state.models.load(name)
    return Response(
        encoder.encode({"model": name, "state": "loaded"}), media_type="application/json"
    )


async def unload_model(request: Request) -> Response:
    """Unload a served model (refused while it has requests in flight)."""
    state = app_state(request)
    name = state.models.find(request.path_params["name"])
    was_loaded = await state.models.unload(name)
    body = {"model": name, "state": "unloaded", "was_loaded": was_loaded}
    return Response(encoder.encode(body), media_type="application/json")
