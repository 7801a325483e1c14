"""The 529 and 500 rows, through a real socket and the SDK's own exception types.

A scripted engine stands in for the model here: overload and engine failure cannot be provoked
on demand with a real model.
"""

import anthropic
import pytest

from pensieve_core import EngineError
from pensieve_core.testing import FakeEngine
from pensieve_server import create_app
from tests.helpers import free_port, serve_in_thread


def test_overloaded_and_api_error_rows(request: pytest.FixtureRequest) -> None:
    engine = FakeEngine(overloaded=True)
    with serve_in_thread(create_app(engine), free_port()) as url:
        client = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)
        request.addfinalizer(client.close)
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            client.messages.create(model="claude-x", max_tokens=5, messages=messages)  # type: ignore[arg-type]
        assert overloaded.value.status_code == 529
        engine.overloaded = False
        engine.error = EngineError("the model crashed")
        with pytest.raises(anthropic.InternalServerError) as failed:
            client.messages.create(model="claude-x", max_tokens=5, messages=messages)  # type: ignore[arg-type]
        assert failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
        with (
            pytest.raises(anthropic.APIStatusError),
            client.messages.stream(model="claude-x", max_tokens=5, messages=messages) as stream,
        ):  # type: ignore[arg-type]
            list(stream)
