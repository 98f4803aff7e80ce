"""Measuring a child process for the `make bench-*` commands."""

import subprocess
import time

from django.core.management.base import CommandError


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measured(argv: list[str]) -> tuple[float, float, str]:
    """Wall time and peak RSS of a child. The peak is the child's own VmHWM, polled: wait4's
    ru_maxrss would include this (large) process's image, inherited across fork+exec."""
    start = time.perf_counter()
    # argv is built by the bench commands themselves, never from input.
    child = subprocess.Popen(  # nosec B603
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    while child.poll() is None:
        peak = max(peak, _high_water_kb(child.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    out, err = child.communicate()
    if child.returncode != 0:
        raise CommandError(f"{argv[0]} failed: {err[-2000:]}")
    return seconds, peak / 1024, out.strip()
