"""The running server keeps a high open-file limit (one descriptor per connection)."""

import resource
import sys
from pathlib import Path

import pytest

from tests.servers import running_server


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/limits")
def test_the_server_is_not_left_at_mlx_lms_2048_descriptors(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with running_server(tmp_path) as server:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
    served_soft, served_hard = (int(x) if x.isdigit() else -1 for x in line.split()[3:5])
    # mlx-lm sets (2048, 4096) when imported; the server keeps the hard limit it was given and
    # raises its soft limit to it (or to 10,240 where it is unlimited).
    expected_hard = -1 if hard == resource.RLIM_INFINITY else hard
    assert served_hard == expected_hard, line
    assert served_soft >= min(max(soft, 10240), hard if hard != resource.RLIM_INFINITY else 10240)
