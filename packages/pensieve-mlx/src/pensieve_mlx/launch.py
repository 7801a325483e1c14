"""``python -m pensieve_mlx.launch ARGS``: MLX's ``mlx.launch`` without its busy loop.

mlx.launch (MLX 0.32) relays each rank's output in a loop around ``select`` that always lists the
rank's stdin pipe as a write target; an empty pipe is always writable, so ``select`` never waits
and the launcher spins a whole CPU core for as long as the group runs (measured here: 100% of a
core, on a 2-core machine). The ranks of a Pensieve group read nothing from stdin, so ``select``
is given no write targets and waits for output as intended (``mlx.launch``'s own timeout, 1 s).
Everything else is mlx.launch as it ships.
"""

from __future__ import annotations

import sys
from select import select
from typing import Any


def _select_reads(reads: Any, writes: Any, errors: Any, timeout: float | None = None) -> Any:
    ready, _, failed = select(reads, [], errors, timeout)
    return ready, [], failed


def main() -> None:
    """Run mlx.launch with the arguments given."""
    from mlx._distributed_utils import launch

    vars(launch)["select"] = _select_reads  # the name its relay loop calls
    sys.exit(launch.main())


if __name__ == "__main__":
    main()
