"""Every request recorded from Claude Code 2.1.331 is accepted by the real server.

The recordings live in tests/fixtures/claude-code/ (scripts/import-claude-recordings.py copies
them in with neutral paths).
"""

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.servers import API_KEY

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "claude-code"
FILES = sorted(RECORDINGS.glob("*/*_POST_v1_messages.json"))
PLACEHOLDERS = ("/home/claude-user", "/workspace/project")


def _sse(text: str) -> list[str]:
    return [
        line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")
    ]


def test_recordings_are_in_the_repository() -> None:
    assert len(FILES) >= 13, f"expected the Claude Code recordings in {RECORDINGS}"
    for path in FILES:
        assert path.is_relative_to(Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("recording", FILES, ids=lambda p: f"{p.parent.name}/{p.name[:3]}")
def test_recordings_hold_only_placeholder_paths(recording: Path) -> None:
    text = recording.read_text()
    for path in re.findall(r"(?<![\w.])/(?:home|Users|root|tmp)/[^\s\"'`\\)]*", text):
        assert path.startswith(PLACEHOLDERS), path


@pytest.mark.parametrize("recording", FILES, ids=lambda p: f"{p.parent.name}/{p.name[:3]}")
def test_replayed_request_is_accepted(server_url: str, recording: Path) -> None:
    record = json.loads(recording.read_text())
    body = {**record["body_json"], "max_tokens": 8}
    headers = {
        k: v
        for k, v in record["headers"]
        if k.lower().startswith(("anthropic-", "x-app", "user-agent"))
    }
    headers["x-api-key"] = API_KEY
    response = httpx.post(f"{server_url}{record['path']}", json=body, headers=headers, timeout=300)
    if response.status_code == 400:
        message = response.json()["error"]["message"]
        assert message.startswith("prompt is too long: "), message
        return
    assert response.status_code == 200, response.text
    events = _sse(response.text)
    assert events[0] == "message_start"
    assert events[-2:] == ["message_delta", "message_stop"]
