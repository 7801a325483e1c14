"""Slow, stalled and idle connections are closed; a flood is refused clearly and a probe is served."""

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from tests.helpers import free_port, serve_in_thread
from tests.reliability.conftest import Report

KEEP_ALIVE_S = 1.5
CAP = 40


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[tuple[str, int]]:
    port = free_port()
    config = ServerConfig(
        port=port, keep_alive_timeout_s=KEEP_ALIVE_S, body_timeout_s=1.5, max_connections=CAP
    )
    with serve_in_thread(create_app(FakeEngine(), config), port, config) as url:
        yield url, port


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while data := sock.recv(4096):
            if b"\r\n\r\n" in data:
                return True  # answered (e.g. 408), then closed
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slowloris_headers_are_closed(server: tuple[str, int]) -> None:
    _, port = server
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(10)
        ]
        for sock in sockets:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        time.sleep(KEEP_ALIVE_S / 2)
        for sock in sockets:
            sock.sendall(b"a")  # still dribbling: the head never completes
        assert all(_closed_by_server(s, KEEP_ALIVE_S * 3) for s in sockets)


def test_a_stalled_chunked_body_gets_408(server: tuple[str, int]) -> None:
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            b'5\r\n{"mod\r\n'
        )
        sock.settimeout(10)
        answer = b""
        while b"stalled" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"the request body stalled" in answer


def test_an_idle_flood_is_refused_clearly_and_reaped(
    server: tuple[str, int], report: Report
) -> None:
    url, port = server
    with contextlib.ExitStack() as stack:
        flood = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            for _ in range(CAP * 3)
        ]
        refused = 0
        for sock in flood:
            sock.settimeout(0.5)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if data.startswith(b"HTTP/1.1 503"):
                assert b"retry-after: 2" in data
                assert b'"type":"overloaded_error"' in data
                refused += 1
        assert refused >= CAP * 2 - 5
        # The idle ones are reaped after the keep-alive timeout: a probe gets through.
        deadline = time.monotonic() + KEEP_ALIVE_S * 4
        served = False
        while time.monotonic() < deadline and not served:
            with contextlib.suppress(httpx.HTTPError):
                served = httpx.get(f"{url}/health", timeout=2).status_code == 200
            time.sleep(0.2)
        assert served
    # Once the flood is gone, new clients are served at once.
    assert httpx.get(f"{url}/health", timeout=2).status_code == 200
    report.add(
        f"{CAP * 3} idle connections against max-connections {CAP} (keep-alive {KEEP_ALIVE_S} s);"
        " slowloris heads; a stalled chunked body",
        f"{refused} refused at once with 503 overloaded_error + retry-after; a probe served "
        "once the idle ones were reaped; slowloris closed; the stalled body answered 408",
    )
