"""Fuzzing profiles. CI (CI=true) replays the same examples every run (derandomize, no example
database); elsewhere each run explores new ones and keeps failures in .hypothesis/.
HYPOTHESIS_PROFILE=ci|dev chooses explicitly; FUZZ_SCALE multiplies every example budget."""

import os
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

from django.db import transaction
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # no timed assertions: bounded sizes keep the suite short instead
    # One set-up (users, a case, a register) serves every example; each example is rolled back.
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def examples(n: int) -> int:
    """A property's example budget; FUZZ_SCALE=10 explores ten times as far by hand."""
    return n * int(os.environ.get("FUZZ_SCALE", "1"))


CRASHERS = Path(__file__).resolve().parent / "crashers"


def crashers(kind: str) -> list[Path]:
    """Saved inputs that once broke a reader (tests/fuzz/crashers/<kind>/): replayed each run."""
    folder = CRASHERS / kind
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


class _RollBack(Exception):
    pass


@contextmanager
def rolled_back():
    """Run an example in a transaction that is always rolled back, so every example starts
    from the same database (hypothesis needs examples to be independent to shrink them)."""
    try:
        with transaction.atomic():
            yield
            raise _RollBack
    except _RollBack:
        pass


@contextmanager
def memory_bound(limit: int = 64 * 2**20):
    """Fail when the block's Python allocations peak above `limit`: a container (ZIP, gzip)
    that unpacks far beyond its size is a bomb the reader must refuse, not hold."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak allocation {peak / 2**20:.0f} MiB for a small file"


def files_under(folder) -> set[str]:
    root = Path(folder)
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )
