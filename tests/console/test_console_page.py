"""The console in a real headless Chromium, against a real server on the embedded model.

The session's server (tests/conftest.py) requires ``API_KEY``; a keyless one over FakeEngine
shows tool calls and thinking. Every test's page may reach only loopback: anything else is
aborted and recorded, and must not happen.
"""

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from tests.helpers import free_port, serve_in_thread
from tests.server.test_console import TOOL
from tests.servers import API_KEY

PROMPT = "Name three colors of the rainbow."


class Offline:
    """Aborts every request that would leave loopback, and keeps every URL the page asked for."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.blocked: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.route("**/*", self._route)

    def _route(self, route: Route, request: Request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith("data:") or host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            self.blocked.append(request.url)
            route.abort()


@pytest.fixture(name="offline")
def _offline(page: Page) -> Iterator[Offline]:
    offline = Offline(page)
    yield offline
    assert offline.blocked == [], "the page asked for something beyond loopback"


def connect(page: Page, url: str, key: str = API_KEY) -> None:
    page.goto(url)
    expect(page.locator("#key-form")).to_be_visible()
    page.fill("#key-input", key)
    page.press("#key-input", "Enter")


def test_a_prompt_streams_and_the_metrics_and_requests_follow(
    page: Page, offline: Offline, server_url: str
) -> None:
    connect(page, server_url)
    expect(page.locator("#console")).to_have_attribute("data-ready", "true")
    expect(page.locator("#key-form")).to_be_hidden()
    assert page.locator("#model option").count() >= 1
    before = page.locator("#totals").inner_text()

    # Count the pieces of text appended to the answer while it streams.
    page.evaluate(
        """() => {
          window.pieces = 0;
          const answer = ".message.assistant .blocks .text";
          new MutationObserver((changes) => {
            for (const c of changes) if (c.target.matches?.(answer)) window.pieces += c.addedNodes.length;
          }).observe(document.getElementById("transcript"), {subtree: true, childList: true});
        }"""
    )
    page.fill("#max-tokens", "24")
    page.fill("#temperature", "0")
    page.fill("#prompt", PROMPT)
    page.click("#send")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-done", "true", timeout=120_000)
    text = answer.locator(".blocks .text").first.inner_text()
    assert text.strip(), "no answer streamed into the page"
    assert page.evaluate("window.pieces") > 3, "the answer arrived in one piece, not streamed"
    usage = answer.locator(".usage").inner_text()
    for figure in ("prompt", "cache hit", "output", "first token"):
        assert figure in usage

    # The totals and the charts move once the next poll has seen the request (the session's
    # server may have served others before: a chart moves when its line leaves a flat level).
    expect(page.locator("#totals")).not_to_have_text(before, timeout=10_000)
    assert any(_levels(page, chart) > 1 for chart in ("decode", "ttft")), "the charts stayed flat"

    # The request is listed; its shape shows structure, never the prompt.
    rid = answer.get_attribute("data-request-id")
    row = page.locator(f'#request-rows tr[data-id="{rid}"]')
    expect(row).to_be_visible(timeout=10_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "/v1/messages"
    assert min(int(cells[3]), int(cells[5])) > 0  # prompt and output tokens
    row.click()
    shape = page.locator("#detail-shape")
    expect(shape).to_contain_text('"role": "user"')
    expect(shape).to_contain_text(f'"content": "<{len(PROMPT)} chars>"')
    assert "rainbow" not in shape.inner_text()

    assert API_KEY not in page.url
    assert page.evaluate("sessionStorage.getItem('pensieve-api-key')") == API_KEY
    assert offline.urls, "the page made no requests"


def _levels(page: Page, chart: str) -> int:
    """How many heights a chart's line takes."""
    points = page.locator(f'.chart[data-metric="{chart}"] polyline').get_attribute("points")
    return len({point.split(",")[1] for point in (points or "").split()})


def test_a_wrong_key_shows_an_error_and_nothing_else(
    page: Page, offline: Offline, server_url: str
) -> None:
    page.goto(server_url)
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-error")).to_have_text("")  # a first visit just asks
    expect(page.locator("#console")).to_be_hidden()
    connect(page, server_url, key="not-the-key")
    expect(page.locator("#key-error")).to_have_text("invalid x-api-key")
    expect(page.locator("#console")).to_be_hidden()
    assert page.locator("#request-rows tr").count() == 0
    assert page.evaluate("sessionStorage.getItem('pensieve-api-key')") is None


def test_scripts_still_get_the_json_hello(server_url: str) -> None:
    for accept in ("application/json", "*/*"):
        response = httpx.get(server_url, headers={"accept": accept})
        assert response.json()["name"] == "pensieve"
    page = httpx.get(server_url, headers={"accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")


@pytest.fixture(name="fake_url", scope="module")
def _fake_url() -> Iterator[str]:
    """A keyless server over FakeEngine, which thinks and then calls a tool."""
    engine = FakeEngine(
        reply=("Checking.",),
        thinking=("The user wants ", "the weather."),
        tool_call=("get_weather", '{"city": "Paris"}'),
    )
    port = free_port()
    with serve_in_thread(create_app(engine, ServerConfig(port=port)), port) as url:
        yield url


def test_tool_calls_show_as_calls_and_thinking_is_folded(
    page: Page, offline: Offline, fake_url: str
) -> None:
    page.goto(fake_url)  # no keys on this server: the console shows at once
    expect(page.locator("#console")).to_have_attribute("data-ready", "true")
    expect(page.locator("#forget-key")).to_be_hidden()
    page.click("text=Tools (JSON)")
    page.fill("#tools", json.dumps([TOOL]))
    page.fill("#prompt", "Weather in Paris?")
    page.click("#send")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-done", "true")
    thinking = answer.locator("details.thinking")
    expect(thinking).to_contain_text("the weather.")
    assert thinking.get_attribute("open") is None  # folded
    call = answer.locator(".tool-call")
    expect(call.locator("b")).to_have_text("get_weather")
    expect(call.locator(".arguments")).to_have_text('{\n  "city": "Paris"\n}')
    expect(answer.locator(".usage")).to_contain_text("tool_use")
    # The next message answers the call: it goes out as the call's tool_result.
    page.fill("#prompt", "Sunny, 21 C")
    page.click("#send")
    expect(page.locator(".message.user .role").last).to_have_text("tool result")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-done", "true")
    # The list of requests refreshes on its own clock: wait for both of this module's server's
    # requests, or the first row may still be the first request when it is clicked.
    rows = page.locator("#request-rows tr")
    expect(rows).to_have_count(2)
    row = rows.first
    expect(row).to_contain_text("/v1/messages")
    row.click()
    shape = page.locator("#detail-shape")
    expect(shape).to_contain_text('"type": "tool_result"')
    expect(shape).to_contain_text('"name": "get_weather"')
    assert "Sunny" not in shape.inner_text()


def test_a_bad_tools_json_is_an_error_in_the_page(
    page: Page, offline: Offline, fake_url: str
) -> None:
    page.goto(fake_url)
    expect(page.locator("#console")).to_have_attribute("data-ready", "true")
    page.click("text=Tools (JSON)")
    page.fill("#tools", "[{not json")
    page.fill("#prompt", "hi")
    page.click("#send")
    expect(page.locator("#chat-error")).to_contain_text("tools:")
    assert page.locator(".message").count() == 0
