"""The server raises its open-file limit: idle sockets must not exhaust 1,024 descriptors."""

import json
import subprocess
import sys

SCRIPT = """
import json, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from pensieve_app.launcher import raise_open_file_limit
raise_open_file_limit()
print(json.dumps([*resource.getrlimit(resource.RLIMIT_NOFILE), resource.RLIM_INFINITY]))
"""


def test_soft_limit_is_raised_to_the_hard_one() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    soft, hard, infinity = json.loads(out.stdout.strip().splitlines()[-1])
    assert soft == hard or (hard == infinity and soft >= 10240)
    assert soft > 256
