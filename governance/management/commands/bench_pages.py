"""`make bench-pages`: the CPU each page of `make bench-web` costs, measured in one process.

On a machine shared with other work, requests per second under load say more about the
neighbours than about the portal. This signs the bench users in (the real password and
security-code forms), then requests each page of bench-web's list N times through Django's
test client in this process (DEBUG off, the production middleware) and prints per page:

- `py ms`: this process's CPU time per request (`time.process_time`: Python, templates,
  the database driver), unaffected by other processes;
- `pg ms`: the CPU time of this connection's PostgreSQL backend per request (from /proc);
- `SQL`: statements per request (savepoints included), counted once;
- `× auth`: `py ms` over the signed-in ceiling's (`/bench/trivial-auth/`).

`--profile PAGE` writes a cProfile of N requests (CPU time) and prints its top functions.
It needs the data set of `bench_web_setup` (bench/web/fixture.json, left by `make bench-web`).
"""

import base64
import cProfile
import os
import pstats
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django_otp.oath import totp

from .bench_web import PAGES, Driver, Page, _load

TRIVIAL_AUTH = Page("trivial_auth", "member", "/bench/trivial-auth/")
WARM_UP = 3


class Command(BaseCommand):
    help = "CPU per request of bench-web's pages, measured in this process."

    def add_arguments(self, parser):
        parser.add_argument("--fixture", default="bench/web/fixture.json")
        parser.add_argument("--requests", type=int, default=30, help="per page (30)")
        parser.add_argument(
            "--pages", default=os.environ.get("BENCH_WEB_PAGES", ""), help="comma-separated"
        )
        parser.add_argument("--profile", default="", help="a page to profile instead")
        parser.add_argument("--profile-out", default="bench/web/page.prof")

    def handle(self, *args, fixture, requests, pages, profile, profile_out, **options):
        if settings.DEBUG or not settings.BENCH_VIEWS:
            raise CommandError(
                "Run with DJANGO_DEBUG=0 and PORTAL_BENCH_VIEWS=1 (make bench-pages)."
            )
        data = _load(fixture)
        wanted = [p for p in PAGES if not pages or p.name in pages.split(",")]
        if profile:
            wanted = [p for p in PAGES if p.name == profile]
        if not wanted:
            raise CommandError(f"No such page; choose from {', '.join(p.name for p in PAGES)}")
        users = data["users"]
        clients = {
            "secretariat": _sign_in(data, *users["secretariat"][0]),
            "member": _sign_in(data, *users["members"][0]),
            "supplier": _sign_in(data, *users["suppliers"][0]),
        }
        driver = Driver("", data, self.stdout.write)
        if profile:
            self._profile(driver, wanted[0], clients[wanted[0].role], requests, profile_out)
            return
        self.stdout.write(
            f"bench-pages: {requests} requests per page after {WARM_UP} to warm up, "
            f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        )
        self.stdout.write(f"{'page':<24}{'py ms':>8}{'pg ms':>8}{'SQL':>6}{'× auth':>8}")
        floor = None
        for page in [TRIVIAL_AUTH, *wanted]:
            py_ms, pg_ms, statements = _measure(driver, page, clients[page.role], requests)
            floor = floor or py_ms
            pg = "-" if pg_ms is None else f"{pg_ms:.1f}"
            self.stdout.write(
                f"{page.name:<24}{py_ms:>8.1f}{pg:>8}{statements:>6}{py_ms / floor:>8.1f}"
            )

    def _profile(self, driver, page, client, requests, out):
        for n in range(WARM_UP):
            _get(driver, page, client, n)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for n in range(requests):
            _get(driver, page, client, n)
        profiler.disable()
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        profiler.dump_stats(out)
        stats = pstats.Stats(profiler, stream=self.stdout)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        self.stdout.write(f"Wrote {out} ({requests} requests of {page.name}).")


def _sign_in(data, username: str, secret: str) -> Client:
    client = Client()
    form = {"username": username, "password": data["password"]}
    response = client.post("/accounts/login/?next=/", form)
    if response.status_code != 302 or "security-code" not in response["Location"]:
        raise CommandError(f"{username}: password step answered {response.status_code}")
    location = response["Location"]
    for _ in range(3):
        token = f"{totp(base64.b32decode(secret), t0=0, step=30, digits=6):06d}"
        response = client.post(location, {"token": token})
        if response.status_code == 302:
            return client
        time.sleep(31 - time.time() % 30)  # this window's code was used (an earlier run)
    raise CommandError(f"{username}: security code answered {response.status_code}")


def _get(driver, page, client, n: int):
    method, path, form, headers = driver.request(page, 0, n)
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    response = client.post(path, form, **extra) if method == "POST" else client.get(path, **extra)
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    if response.status_code != page.expect:
        raise CommandError(f"{page.name}: {method} {path} answered {response.status_code}")


def _backend_ticks() -> tuple[int, int] | None:
    """(pid, CPU ticks) of this connection's PostgreSQL backend."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # a database on another host
        return None
    return pid, int(fields[11]) + int(fields[12])


def _measure(driver, page, client, requests: int) -> tuple[float, float | None, int]:
    for n in range(WARM_UP):
        _get(driver, page, client, n)
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        _get(driver, page, client, 0)
    before = _backend_ticks()
    started = time.process_time()
    for n in range(requests):
        _get(driver, page, client, n)
    py_ms = (time.process_time() - started) * 1000 / requests
    after = _backend_ticks()
    pg_ms = None
    if before and after and before[0] == after[0]:  # the same connection throughout
        pg_ms = (after[1] - before[1]) * 1000 / os.sysconf("SC_CLK_TCK") / requests
    return py_ms, pg_ms, statements
