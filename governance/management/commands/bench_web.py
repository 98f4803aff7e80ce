"""`make bench-web`'s driver: the portal under 32 signed-in users, page by page, against the
stack's own ceilings measured in the same run.

It starts gunicorn (3 sync workers, DEBUG off, PORTAL_BENCH_VIEWS=1) on loopback against the
data set of `bench_web_setup`, signs every virtual user in through the real login and
security-code forms, then for each page runs three fixed-time phases under the same load:
the constant anonymous page (`trivial`), the constant signed-in page as the page's own users
(`trivial_auth`), then the page. Per phase: requests/s, p50/p95/p99, errors, server CPU per
request (gunicorn workers and this database's PostgreSQL backends, from /proc), and the
page's `ratio` = its requests/s ÷ the signed-in ceiling just before it. Each page's SQL
statements are counted once (X-Query-Count). Writes --json.

The load is closed-loop: each virtual user sends its next request when the previous one has
answered; a phase starts no request after its time is up and waits for those in flight. The
client is asyncio + aiohttp in one process: no monkey-patching, exact percentiles from every
latency, and little CPU of its own on a machine the server shares (its CPU is printed too).
"""

import asyncio
import base64
import ctypes
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

USERS = 32
WORKERS = 3
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Page:
    name: str
    role: str  # whose sessions: secretariat, member or supplier
    path: str | None = None
    method: str = "GET"
    expect: int = 200


PAGES = [
    Page("dashboard_secretariat", "secretariat", "/"),
    Page("dashboard_supplier", "supplier", "/"),
    Page("cpl_filter", "supplier", "/cpl/?device_type=ESME&status=listed"),
    Page("cpl_search", "supplier"),  # a few terms in turn, see _request
    Page("device_model", "supplier"),
    Page("case", "member"),
    Page("ballot", "member"),
    Page("vote", "member", method="POST"),
    Page("inbox_supplier", "supplier", "/inbox/"),
    Page("notices", "secretariat", "/notices/"),
    Page("plans_supplier", "supplier", "/plans/"),
    Page("referrals", "secretariat", "/referrals/"),
    Page("export_csv", "secretariat", "/cpl/export/csv/"),
]
SEARCH_TERMS = ["severn", "CPA-00012", "0001F", "Caledon Comms 3", "mersey"]
VOTE_CHOICES = ["suspend", "remedial_plan", "abstain"]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_ms: float | None = None
    client_cpu_ms: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> dict:
        rps = self.requests / self.seconds if self.seconds else 0.0
        return {
            "rps": round(rps, 1),
            "p50_ms": round(self.percentile(0.50), 1),
            "p95_ms": round(self.percentile(0.95), 1),
            "p99_ms": round(self.percentile(0.99), 1),
            "errors": self.errors,
            "requests": self.requests,
            "cpu_ms_per_request": None
            if self.cpu_ms is None or not self.requests
            else round(self.cpu_ms / self.requests, 2),
            "client_cpu_ms_per_request": round(self.client_cpu_ms / max(1, self.requests), 2),
        }


# --- processes --------------------------------------------------------------------------------


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(p) for p in children.read().split()]
    except OSError:
        return []


def _postgres_backends(database: str) -> list[int]:
    """This database's backends: the process title reads `postgres: … user database host …`."""
    marker = f" {database} ".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and marker in title:
            pids.append(int(entry))
    return pids


class ServerCPU:
    """CPU time of the gunicorn master and workers and of the database's backends, per pid: a
    process that started between two readings counts from zero."""

    def __init__(self, master: int | None, database: str | None):
        self.master, self.database = master, database

    def read(self) -> dict[int, int]:
        if self.master is None:
            return {}
        pids = [self.master, *_children(self.master)]
        if self.database:
            pids += _postgres_backends(self.database)
        return {pid: _cpu_ticks(pid) for pid in pids}

    @staticmethod
    def spent_ms(before: dict[int, int], after: dict[int, int]) -> float:
        ticks = sum(max(0, t - before.get(pid, 0)) for pid, t in after.items())
        return ticks * 1000 / CLK_TCK


def _die_with_parent():
    """In the child: gunicorn gets SIGTERM if this driver dies, even by SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the client -------------------------------------------------------------------------------


def _csrf(session) -> str:
    for cookie in session.cookie_jar:
        if cookie.key == "csrftoken":
            return cookie.value
    return ""


class Driver:
    def __init__(self, base: str, fixture: dict, out):
        self.base, self.fixture, self.out = base, fixture, out
        self.sessions: dict[str, list] = {}
        self.anonymous = None
        self.opened: list = []
        self.failures: tuple = (asyncio.TimeoutError, OSError)

    async def sign_in(self, aiohttp, username: str, secret: str):
        session = aiohttp.ClientSession(
            self.base,
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1
            timeout=aiohttp.ClientTimeout(total=120),
        )
        self.opened.append(session)  # closed at the end even if signing in is interrupted
        async with session.get("/accounts/login/") as response:
            await response.read()
        form = {"username": username, "password": self.fixture["password"]}
        async with session.post(
            "/accounts/login/?next=/",
            data={**form, "csrfmiddlewaretoken": _csrf(session)},
            allow_redirects=False,
        ) as response:
            await response.read()
            location = response.headers.get("Location", "")
            if response.status != 302 or "security-code" not in location:
                raise CommandError(f"{username}: password step answered {response.status}")
        token = f"{totp(base64.b32decode(secret), t0=0, step=30, digits=6):06d}"
        async with session.post(
            location,
            data={"token": token, "csrfmiddlewaretoken": _csrf(session)},
            allow_redirects=False,
        ) as response:
            await response.read()
            if response.status != 302:
                raise CommandError(f"{username}: security code answered {response.status}")
        async with session.get("/bench/trivial-auth/", allow_redirects=False) as response:
            await response.read()
            if response.status != 200:
                raise CommandError(f"{username} is not signed in ({response.status})")
        return session

    async def sign_in_all(self, aiohttp) -> float:
        users = self.fixture["users"]
        wanted = {
            "secretariat": users["secretariat"],
            "member": users["members"][:USERS],
            "supplier": users["suppliers"][:USERS],
        }
        gate = asyncio.Semaphore(6)

        async def one(username, secret):
            async with gate:
                return await self.sign_in(aiohttp, username, secret)

        self.failures = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
        started = time.perf_counter()
        for role, pairs in wanted.items():
            self.sessions[role] = await asyncio.gather(*(one(u, s) for u, s in pairs))
        self.anonymous = aiohttp.ClientSession(
            self.base,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        return time.perf_counter() - started

    def session_for(self, role: str, user: int):
        if role == "anonymous":
            return self.anonymous
        pool = self.sessions[role]
        return pool[user % len(pool)]

    def request(self, page: Page, user: int, n: int) -> tuple[str, str, dict | None, dict]:
        """(method, path, form, headers) of a virtual user's n-th request to the page."""
        f = self.fixture
        pick = (user * 7919 + n * 104729) % 1_000_003
        if page.name == "cpl_search":
            term = SEARCH_TERMS[(user + n) % len(SEARCH_TERMS)]
            return "GET", f"/cpl/?q={term.replace(' ', '+')}", None, {}
        if page.name == "device_model":
            models = f["device_models"]
            return "GET", f"/cpl/models/{models[pick % len(models)]}/", None, {}
        if page.name == "case":
            return "GET", f"/cases/{f['cases'][pick % len(f['cases'])]}/", None, {}
        ballots = f["open_ballots"]
        if page.name == "ballot":
            return "GET", f"/ballots/{ballots[pick % len(ballots)]}/", None, {}
        if page.name == "vote":
            form = {"choice": VOTE_CHOICES[(user + n) % 3], "no_conflict": "on"}
            headers = {"HX-Request": "true"}  # the ballot page posts its vote panel by htmx
            return "POST", f"/ballots/{ballots[pick % len(ballots)]}/vote/", form, headers
        return page.method, page.path, None, {}

    async def run_phase(self, page: Page, role: str, seconds: float, cpu: ServerCPU) -> Result:
        result = Result()
        deadline_at = time.perf_counter() + seconds

        async def virtual_user(user: int):
            session = self.session_for(role, user)
            n = 0
            while time.perf_counter() < deadline_at:
                method, path, form, headers = self.request(page, user, n)
                n += 1
                if method == "POST":
                    headers = {**headers, "X-CSRFToken": _csrf(session)}
                sent = time.perf_counter()
                try:
                    async with session.request(
                        method, path, data=form, headers=headers, allow_redirects=False
                    ) as response:
                        await response.read()
                        status = response.status
                except self.failures:  # refused, reset or timed out: an error, and go on
                    status = 0
                result.latencies.append(time.perf_counter() - sent)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status != page.expect:
                    result.errors += 1

        before, client_before = cpu.read(), _own_cpu()
        started = time.perf_counter()
        await asyncio.gather(*(virtual_user(u) for u in range(USERS)))
        result.seconds = time.perf_counter() - started
        result.client_cpu_ms = (_own_cpu() - client_before) * 1000
        after = cpu.read()
        result.cpu_ms = ServerCPU.spent_ms(before, after) if after else None
        return result

    async def query_count(self, page: Page, role: str) -> int | None:
        method, path, form, headers = self.request(page, 0, 0)
        session = self.session_for(role, 0)
        headers = {**headers, "X-Bench-Count-Queries": "1"}
        if method == "POST":
            headers["X-CSRFToken"] = _csrf(session)
        async with session.request(
            method, path, data=form, headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            if response.status != page.expect:
                self.out(f"  ! {page.name}: {method} {path} answered {response.status}")
            count = response.headers.get("X-Query-Count")
        return int(count) if count is not None else None

    async def close(self):
        for session in self.opened:
            await session.close()
        if self.anonymous is not None:
            await self.anonymous.close()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the command ------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Drive the portal with 32 signed-in users, page by page, against its ceilings."

    def add_arguments(self, parser):
        parser.add_argument("--fixture", default="bench/bench-web-fixture.json")
        parser.add_argument("--json", dest="json_path", default="bench-web.json")
        parser.add_argument(
            "--seconds", type=float, default=float(os.environ.get("BENCH_WEB_SECONDS", "10"))
        )
        parser.add_argument(
            "--ceiling-seconds",
            type=float,
            default=float(os.environ.get("BENCH_WEB_CEILING_SECONDS", "5")),
        )
        parser.add_argument(
            "--pages", default=os.environ.get("BENCH_WEB_PAGES", ""), help="comma-separated"
        )
        parser.add_argument("--log", default="bench/gunicorn.log")

    def handle(self, *args, fixture, json_path, seconds, ceiling_seconds, pages, log, **options):
        try:
            import aiohttp
        except ImportError:
            raise CommandError("aiohttp is missing: pip install -e '.[bench]'") from None
        fixture_data = _load(fixture)
        selected = [p for p in PAGES if not pages or p.name in pages.split(",")]
        if not selected:
            raise CommandError(f"No such page; choose from {', '.join(p.name for p in PAGES)}")
        # SIGTERM and SIGHUP end the run as Ctrl-C does: through `finally`, stopping gunicorn
        # (SIGINT too, even where a shell started this in the background with it ignored).
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        server = None
        try:
            server, base = self._start_gunicorn(Path(log))
            database = settings.DATABASES["default"].get("NAME")
            cpu = ServerCPU(server.pid, database if "postgresql" in _engine() else None)
            report = asyncio.run(
                self._drive(aiohttp, base, fixture_data, selected, seconds, ceiling_seconds, cpu)
            )
        except KeyboardInterrupt:
            raise CommandError("Interrupted; gunicorn is stopped.") from None
        finally:
            if server is not None:
                _stop(server)
        report["data"] = fixture_data.get("counts", {})
        Path(json_path).write_text(_json_dumps(report))
        self.stdout.write(f"Wrote {json_path}.")

    def _start_gunicorn(self, log: Path):
        port = int(os.environ.get("BENCH_WEB_PORT") or _free_port())
        env = {
            **os.environ,
            "PORTAL_BENCH_VIEWS": "1",
            "PORTAL_HTTPS": "0",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        if not env.get("DJANGO_SECRET_KEY"):
            raise CommandError("DJANGO_SECRET_KEY must be set (the portal runs with DEBUG off).")
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            str(Path(sys.executable).with_name("gunicorn")),
            "portal.wsgi:application",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--error-logfile",
            str(log),
        ]
        server = subprocess.Popen(  # nosec B603  # argv is this command's own gunicorn line
            # No thread exists yet (the client starts later), so preexec_fn is safe here.
            argv,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited ({server.returncode}); see {log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            _stop(server)
            raise CommandError("gunicorn did not start listening within 30 s")
        time.sleep(0.5)  # the workers boot after the master binds
        return server, base

    async def _drive(self, aiohttp, base, fixture, pages, seconds, ceiling_seconds, cpu):
        write = self.stdout.write
        driver = Driver(base, fixture, write)
        trivial = Page("trivial", "anonymous", "/bench/trivial/")
        trivial_auth = Page("trivial_auth", "", "/bench/trivial-auth/")
        try:
            took = await driver.sign_in_all(aiohttp)
            write(
                f"bench-web: {base}, gunicorn {WORKERS} sync workers, {USERS} users; "
                f"{sum(len(v) for v in driver.sessions.values())} sign-ins (password + TOTP) "
                f"in {took:.1f} s; {seconds:g} s per page, {ceiling_seconds:g} s per ceiling"
            )
            queries = {"trivial": await driver.query_count(trivial, "anonymous")}
            queries["trivial_auth"] = await driver.query_count(trivial_auth, "member")
            for page in pages:
                queries[page.name] = await driver.query_count(page, page.role)
            # Warm every worker's caches and connections before the first measurement.
            await driver.run_phase(trivial_auth, "member", 2, cpu)
            header = (
                f"{'page':<22}{'req/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'err':>5}"
                f"{'CPU ms':>8}{'SQL':>5}{'ratio':>7}   ceilings: trivial, trivial_auth req/s"
            )
            write(header)
            write("-" * len(header))
            rows, ceilings = {}, {"trivial": [], "trivial_auth": []}
            for page in pages:
                anon = await driver.run_phase(trivial, "anonymous", ceiling_seconds, cpu)
                auth = await driver.run_phase(trivial_auth, page.role, ceiling_seconds, cpu)
                result = await driver.run_phase(page, page.role, seconds, cpu)
                ceilings["trivial"].append(anon.summary())
                ceilings["trivial_auth"].append(auth.summary())
                row = result.summary()
                auth_rps = auth.summary()["rps"]
                row["ratio"] = round(row["rps"] / auth_rps, 3) if auth_rps else None
                row["queries"] = queries.get(page.name)
                row["statuses"] = result.statuses
                row["ceilings"] = {
                    "trivial_rps": anon.summary()["rps"],
                    "trivial_auth_rps": auth_rps,
                }
                rows[page.name] = row
                write(_line(page.name, row, anon.summary()["rps"], auth_rps))
                if row["errors"]:
                    write(f"  ! {page.name}: statuses {result.statuses}")
        finally:
            await driver.close()
        summary = {name: _combine(runs) for name, runs in ceilings.items()}
        summary["trivial"]["queries"] = queries["trivial"]
        summary["trivial_auth"]["queries"] = queries["trivial_auth"]
        write("-" * len(header))
        for name in ("trivial", "trivial_auth"):
            s = summary[name]
            write(
                f"{name:<22}{s['rps']:>8.0f}{s['p50_ms']:>8.1f}{s['p95_ms']:>8.1f}"
                f"{s['p99_ms']:>8.1f}{s['errors']:>5}{_fmt(s['cpu_ms_per_request'], 8)}"
                f"{_fmt(s['queries'], 5)}   (median of {len(ceilings[name])} runs)"
            )
        ratio = summary["trivial_auth"]["rps"] / summary["trivial"]["rps"]
        write(f"trivial_auth ÷ trivial = {ratio:.3f}")
        client = statistics.median(r["client_cpu_ms_per_request"] for r in ceilings["trivial"])
        write(f"(the driver's own CPU: {client:.2f} ms per anonymous request, same 2 cores)")
        summary["trivial_auth_over_trivial"] = round(ratio, 3)
        return {
            "trivial": summary["trivial"],
            "trivial_auth": summary["trivial_auth"],
            "trivial_auth_over_trivial": summary["trivial_auth_over_trivial"],
            "pages": rows,
            "config": {
                "users": USERS,
                "gunicorn_workers": WORKERS,
                "seconds_per_page": seconds,
                "seconds_per_ceiling": ceiling_seconds,
                "database": _engine(),
            },
        }


def _combine(runs: list[dict]) -> dict:
    """Ceilings measured before each page: the median of each figure, errors summed."""
    combined = {
        key: statistics.median(r[key] for r in runs)
        for key in ("rps", "p50_ms", "p95_ms", "p99_ms")
    }
    combined["errors"] = sum(r["errors"] for r in runs)
    cpu = [r["cpu_ms_per_request"] for r in runs if r["cpu_ms_per_request"] is not None]
    combined["cpu_ms_per_request"] = round(statistics.median(cpu), 2) if cpu else None
    combined["runs"] = [r["rps"] for r in runs]
    return combined


def _fmt(value, width: int, digits: int = 1) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}" if isinstance(value, float) else f"{value:>{width}}"


def _line(name: str, row: dict, anon_rps: float, auth_rps: float) -> str:
    return (
        f"{name:<22}{row['rps']:>8.1f}{row['p50_ms']:>8.0f}{row['p95_ms']:>8.0f}"
        f"{row['p99_ms']:>8.0f}{row['errors']:>5}{_fmt(row['cpu_ms_per_request'], 8)}"
        f"{_fmt(row['queries'], 5)}{_fmt(row['ratio'], 7, 2)}   {anon_rps:.0f}, {auth_rps:.0f}"
    )


def _engine() -> str:
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot read {path} (run bench_web_setup first): {exc}") from None


def _json_dumps(data) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _stop(server: subprocess.Popen) -> None:
    """Stop gunicorn and its workers: TERM to its process group, KILL after 10 s."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
