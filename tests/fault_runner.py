"""``leadscore`` with the fault tests' pause installed in ``pipelines.sinks.after_batch`` (the package's only seam).

``python -m tests.fault_runner score ...`` runs the real command. With
``LEADSCORE_FAULT_PAUSE="ROWS:PATH"``, once ROWS rows are inserted (not committed) the run
creates PATH (holding its pid) and waits while PATH exists, at most ten minutes, so a test can
SIGKILL the process inside its transaction, or start a competing run for the same week, and
then delete PATH to let it commit. ``"committed:PATH"`` holds it just after the commit, before
the CSV and report are renamed into place. Only this runner reads the variable: a real
``leadscore`` never pauses.
"""

from __future__ import annotations

import os
import sys
import time

FAULT_PAUSE = "LEADSCORE_FAULT_PAUSE"
_paused: list[bool] = []


def pause(written: int, committed: bool = False) -> None:
    spec = os.environ.get(FAULT_PAUSE)
    if not spec or _paused:
        return
    rows, _, path = spec.partition(":")
    if (rows == "committed") != committed or (not committed and written < int(rows)):
        return
    _paused.append(True)
    with open(path, "w") as marker:
        marker.write(str(os.getpid()))
    deadline = time.monotonic() + 600
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def fail_after(rows: int):
    """A replacement for the seam that fails the write once ``rows`` are inserted (in-process rollback tests)."""
    def after_batch(written: int, committed: bool = False) -> None:
        if not committed and written >= rows:
            raise RuntimeError(f"injected failure after {written} rows")
    return after_batch


if __name__ == "__main__":
    from pipelines import sinks
    from pipelines.cli import main

    sinks.after_batch = pause
    sys.argv[0] = "leadscore"
    main()
