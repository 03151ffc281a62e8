"""Run one command as its own process and record its wall time and peak resident memory.

What ``/usr/bin/time -v`` does, without depending on it: the child's resource usage comes
from ``wait4`` (``ru_maxrss``: the largest resident set of the child or of any descendant it
waited for). A step that runs past its time limit, or past a memory ceiling (so that one
runaway step cannot take the shared machine down), is killed with its whole process
group and recorded as such, not as a crash.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

POLL_SECONDS = 0.2
_RESULT = re.compile(r"^RESULT\b(?P<fields>.*)$", re.MULTILINE)


@dataclass
class Run:
    status: str  # ok | failed | timeout | memory
    wall_s: float
    peak_rss_bytes: int
    returncode: int | None = None
    step_s: float | None = None  # the step's own timing, when it prints a RESULT line
    rows: int | None = None
    tail: str = ""  # what a failed run said went wrong

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def run(command: list[str], *, log: Path, cwd: Path | None = None, env: dict | None = None,
        timeout_s: float | None = None, memory_limit_bytes: int | None = None) -> Run:
    """Run ``command`` with output to ``log``; kill it past ``timeout_s`` or ``memory_limit_bytes`` resident."""
    log.parent.mkdir(parents=True, exist_ok=True)
    killed_for = None
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if killed_for is None:
                    if timeout_s is not None and time.monotonic() - started > timeout_s:
                        killed_for = "timeout"
                    elif memory_limit_bytes is not None and _resident_bytes(process.pid) > memory_limit_bytes:
                        killed_for = "memory"
                    if killed_for:
                        _kill_group(process.pid)
                time.sleep(POLL_SECONDS)
        except BaseException:  # Ctrl-C: the child has its own session, so the terminal's signal never reached it
            _kill_group(process.pid)
            os.wait4(process.pid, 0)
            process.returncode = -signal.SIGKILL
            raise
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    text = log.read_text(errors="replace")
    result = Run(status=killed_for or ("ok" if process.returncode == 0 else "failed"), wall_s=round(wall, 3),
                 peak_rss_bytes=usage.ru_maxrss * 1024, returncode=process.returncode)
    fields = _result_fields(text)
    if "seconds" in fields:
        result.step_s = float(fields["seconds"])
    if "rows" in fields:
        result.rows = int(fields["rows"])
    if result.status != "ok":
        result.tail = _failure_line(text)
    return result


def _failure_line(text: str) -> str:
    """The line that says what went wrong: the last one naming an error, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    named = [line for line in lines if "error" in line.lower() and not line.startswith("nanobind")]
    return (named or lines or [""])[-1][:300]


def _result_fields(text: str) -> dict[str, str]:
    found = _RESULT.findall(text)
    if not found:
        return {}
    return dict(part.split("=", 1) for part in found[-1].split() if "=" in part)


def _resident_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the child leads its own session: this ends it and its helpers
    except ProcessLookupError:
        pass
