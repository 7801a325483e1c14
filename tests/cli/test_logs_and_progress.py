"""`pensieve logs` and conversion progress."""

import io
from pathlib import Path
from typing import Any

from pensieve_cli.pidfile import PidFile
from pensieve_cli.progress import ProgressReporter


def test_logs_shows_the_last_lines_and_stops_following_a_stopped_server(
    run: Any, tmp_path: Path
) -> None:
    pid_file = PidFile(tmp_path / "state")
    pid_file.log_path.parent.mkdir(parents=True)
    pid_file.log_path.write_text("".join(f"line {n}\n" for n in range(10)))
    assert run("logs", "-n", "2").stdout == "line 8\nline 9\n"
    followed = run("logs", "-f", "-n", "1")
    assert followed.exit_code == 0
    assert followed.stdout == "line 9\n"
    assert "the server has stopped" in followed.stderr


def test_logs_without_a_detached_run(run: Any) -> None:
    result = run("logs")
    assert result.exit_code == 1
    assert "only `pensieve start --detach` writes one" in result.output


def test_rotation_keeps_one_log_per_run(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path)
    for run_number in range(7):
        pid_file.rotate_log()
        pid_file.log_path.write_text(f"run {run_number}\n")
    assert pid_file.log_path.read_text() == "run 6\n"
    assert (tmp_path / "pensieve.log.1").read_text() == "run 5\n"
    assert sorted(p.name for p in tmp_path.glob("pensieve.log*")) == [
        "pensieve.log",
        *(f"pensieve.log.{n}" for n in range(1, 6)),
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    lines = io.StringIO()
    report = ProgressReporter("converting", stream=lines)
    for done in range(0, 101, 5):
        report(done * 2**20, 100 * 2**20)
    printed = lines.getvalue().splitlines()
    assert printed[0] == "converting: 0% (0 of 100 MiB)"
    assert printed[-1] == "converting: 100% (100 of 100 MiB)"
    assert len(printed) == 11
    terminal = _Terminal()
    bar = ProgressReporter("converting", stream=terminal)
    for done in range(0, 101, 50):
        bar(done, 100)
    assert "100%" in terminal.getvalue()
    assert "\r" in terminal.getvalue()
