"""The README's curl lines, run as written against a real server."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.servers import API_KEY

README = Path(__file__).resolve().parents[2] / "README.md"


def curl_commands(markdown: str) -> list[str]:
    """Every ``curl`` command in the bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.startswith("curl ")]
    return commands


COMMANDS = curl_commands(README.read_text())


def test_the_readme_has_curl_examples_for_each_route() -> None:
    routes = [shlex.split(c)[1].rsplit("7777", 1)[1] for c in COMMANDS]
    assert sorted(set(routes)) == [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/messages/count_tokens",
    ]
    bodies = [json.loads(shlex.split(c)[-1]) for c in COMMANDS]
    assert any(b.get("stream") for b in bodies)
    assert any(b.get("tools") for b in bodies)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: shlex.split(c)[1].split("7777")[1])
def test_readme_curl_line_works(server_url: str, command: str) -> None:
    args = shlex.split(command.replace("http://127.0.0.1:7777", server_url))
    # The test server requires a key; the README's `local` is what a keyless server accepts.
    args = [
        a.replace(": local", f": {API_KEY}").replace("Bearer local", f"Bearer {API_KEY}")
        for a in args
    ]
    result = subprocess.run(
        [args[0], "--silent", "--show-error", "--fail-with-body", *args[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if '"stream": true' in command:
        assert "event: message_stop" in result.stdout
        return
    reply = json.loads(result.stdout)
    if "count_tokens" in command:
        assert reply["input_tokens"] > 5
    elif "chat/completions" in command:
        assert reply["choices"][0]["message"]["content"]
    elif "tools" in command:
        assert reply["stop_reason"] == "tool_use"
        assert reply["content"][-1]["name"] == "get_weather"
    else:
        assert reply["content"][0]["text"]
