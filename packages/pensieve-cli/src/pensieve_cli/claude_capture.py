"""Claude Code's own first request, caught on a loopback port: what ``pensieve claude --warm`` prefills.

Claude Code's first request depends on where and how it runs: the working directory, the date,
the platform, the model name it was given, the skills and MCP tools installed. A recording can
only match its own machine, so the warm start asks the installed Claude Code itself: it runs
``claude -p`` once against a one-shot listener, keeps the first Messages request and stops it.
The standard library's HTTP server is enough for one request on loopback.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WARM_PROMPT = "hi"
"""The prompt of the captured run; the real prompt replaces it, so only what precedes it counts."""


class _Catcher(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body: bytes | None = None
        self.caught = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Catcher

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.split("?")[0] == "/v1/messages" and not self.server.caught.is_set():
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            # The main loop's request carries the tools; side requests (titles, quota) do not.
            if isinstance(parsed, dict) and parsed.get("tools") and parsed.get("messages"):
                self.server.body = body
                self.server.caught.set()
        # An overloaded answer: Claude Code waits to retry instead of doing anything else.
        payload = b'{"type":"error","error":{"type":"overloaded_error","message":"capturing"}}'
        self.send_response(529)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.send_error(404)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the capture is not the user's traffic."""


def capture_first_request(
    binary: str, env: dict[str, str], cwd: Path, timeout: float = 60.0
) -> bytes | None:
    """The body of the first Messages request ``binary -p`` sends from ``cwd`` with ``env``.

    ``None`` when Claude Code sent none within ``timeout`` seconds (or could not start).
    """
    catcher = _Catcher()
    thread = threading.Thread(target=catcher.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{catcher.server_address[1]}"
    try:
        process = subprocess.Popen(
            [binary, "-p", WARM_PROMPT, "--output-format", "json"],
            env={**env, "ANTHROPIC_BASE_URL": url},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        catcher.shutdown()
        catcher.server_close()
        return None
    try:
        deadline = timeout
        while not catcher.caught.wait(0.1):
            deadline -= 0.1
            if deadline <= 0 or process.poll() is not None:
                break
    finally:
        process.kill()
        process.wait()
        catcher.shutdown()
        catcher.server_close()
    return catcher.body
