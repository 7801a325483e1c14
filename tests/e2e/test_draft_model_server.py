"""``pensieve start --set engine.draft-model=NAME``: the name resolves as ``--model`` does, drafts count."""

from pathlib import Path

import httpx

from tests.e2e.conftest import API_KEY
from tests.server.test_metrics import sample
from tests.servers import failed_start, running_server

QUOTED = "\n".join(f"line {i}: the value of item {i} is {i * 7}." for i in range(12))


def test_a_draft_model_named_like_a_model_drafts_and_is_counted(tmp_path: Path) -> None:
    # "default" is the embedded SmolLM2, drafting for itself: its drafts are accepted.
    with (
        running_server(tmp_path, "--api-key", API_KEY, "--set", "engine.draft-model=default") as s,
        httpx.Client(base_url=s.url, headers={"x-api-key": API_KEY}, timeout=300) as client,
    ):
        body = {
            "model": "claude-x",
            "max_tokens": 80,
            "temperature": 0,
            "messages": [{"role": "user", "content": f"Repeat exactly:\n\n{QUOTED}"}],
        }
        answer = client.post("/v1/messages", json=body)
        assert answer.status_code == 200, answer.text
        metrics = client.get("/metrics").text
    drafted = sample(metrics, "pensieve_speculation_drafted_tokens")
    accepted = sample(metrics, "pensieve_speculation_accepted_tokens")
    assert drafted > 0
    assert accepted > drafted / 2, (accepted, drafted)


def test_a_draft_model_that_does_not_exist_fails_at_start_in_one_line(tmp_path: Path) -> None:
    done = failed_start(tmp_path / "state", "--set", "engine.draft-model=no-such-draft")
    assert done.returncode != 0
    assert "no-such-draft" in done.stderr
    assert "Traceback" not in done.stderr
