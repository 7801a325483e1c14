from click.testing import CliRunner

from pensieve_cli import ServeOptions, build_cli


class RecordingLauncher:
    def __init__(self) -> None:
        self.served: list[ServeOptions] = []

    def serve(self, options: ServeOptions) -> None:
        self.served.append(options)


def test_start_hands_options_to_launcher() -> None:
    launcher = RecordingLauncher()
    cli = build_cli(launcher, version="0.0.0")
    result = CliRunner().invoke(cli, ["start", "--port", "8123", "--api-key", "k1"])
    assert result.exit_code == 0, result.output
    assert launcher.served == [ServeOptions(port=8123, api_keys=("k1",))]


def test_bad_port_is_one_clear_line() -> None:
    result = CliRunner().invoke(
        build_cli(RecordingLauncher(), version="0"), ["start", "--port", "0"]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output
    assert "Traceback" not in result.output
