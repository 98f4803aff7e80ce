"""`make bench-web`'s data set: a register of realistic size and a committee at work.

20,000 device models (or --models) imported through the CPL import service, 60 organisations,
40 SSC users, suppliers with a DCC inventory, and 200 cases through the services: in
assessment with evidence, in voting with open ballots and votes, decided and issued (devices
suspended, remedial plans required and some submitted, referrals lodged), so every list the
benchmark reads has rows. Votes of the decided ballots are bulk-written (the tally reads them
as the services would); everything else goes through the services, with their audit events
and notices.

Every user has a TOTP device with a fixed, demo-style secret: the driver signs each virtual
user in through the real login and security-code forms. Writes what the driver needs (users,
secrets, object ids) to --out. It spans every app, so it lives in the top layer.
"""

import base64
import csv
import datetime
import hashlib
import io
import json
import random
import time
from pathlib import Path

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.backends.signals import connection_created
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cpl import selectors as cpl_selectors
from cpl.exchange import COLUMNS
from cpl.inventory import inventory_import, model_keys
from cpl.models import AssuranceCertificate, DeviceModel
from cpl.services import certificates_check, cpl_import_path
from governance.models import (
    Ballot,
    Case,
    ConflictDeclaration,
    Decision,
    PlanRequirement,
    Vote,
    VoteChoice,
)
from governance.plans import plan_submit
from governance.record import (
    case_party_summary_approve,
    case_party_summary_write,
    party_summary_sha256,
)
from governance.referrals import referral_lodge
from governance.services import (
    ballot_close,
    ballot_open,
    case_open,
    case_transition,
    decision_issue,
    evidence_upload,
    vote_cast,
)
from portal.models import Organisation, User
from portal.roles import Role

BENCH_PASSWORD = "bench-web-password-2026"  # nosec B105  # a throwaway benchmark database
TYPES = ["ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"]
MANUFACTURERS = [
    "Northfield Metering",
    "Severn Smart Systems",
    "Caledon Comms",
    "Pennine Instruments",
    "Thames Valley Meters",
    "Solent Devices",
    "Cambrian Energy Tech",
    "Mersey Sensors",
]
SSC_SECRETARIAT, SSC_MEMBERS, SUPPLIERS = 3, 36, 56  # + the chair: 40 SSC users, 60 orgs
CASES = 200
P = Organisation.PartyType


def bench_totp_secret(username: str) -> str:
    return base64.b32encode(
        hashlib.sha1(f"bench-web:{username}".encode(), usedforsecurity=False).digest()
    ).decode()


def generate_cpl(path: Path, rows: int, seed: int = 2026) -> None:
    """A CPL exchange file; one CPA certificate per three models, about 4% of them expired."""
    rng = random.Random(seed)  # nosec B311  # reproducible benchmark data
    manufacturers = [
        (f"{0x1A00 + i:04X}", f"{MANUFACTURERS[i % len(MANUFACTURERS)]} {i // 8 + 1}")
        for i in range(64)
    ]
    today = datetime.date.today()
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        cpa_issued = {}
        for index in range(rows):
            device_type = TYPES[index % len(TYPES)]
            mid, name = manufacturers[(index // 3) % len(manufacturers)]
            group = index // 3  # the three models of a group share their CPA certificate
            if group not in cpa_issued:
                cpa_issued = {group: today - datetime.timedelta(days=rng.randint(30, 2290))}
            issued = cpa_issued[group]
            expiry = issued + datetime.timedelta(days=6 * 365)
            # A few non-CPA certificates lapsed: those models are suspended automatically.
            zigbee = today + datetime.timedelta(days=rng.randint(30, 3000) if index % 200 else -5)
            dlms = device_type in ("ESME", "GSME")
            writer.writerow(
                [
                    device_type,
                    mid,
                    name,
                    f"{index // 4096:04X}",
                    f"{rng.choice([0x100, 0x200]):04X}",
                    f"{index:08X}",
                    "CHTS v1.2" if device_type in ("CHF", "GPF") else "SMETS2 v5.0",
                    issued.isoformat(),
                    f"CPA-{group:07d}",
                    issued.isoformat(),
                    expiry.isoformat(),
                    f"ZB-{index:07d}",
                    zigbee.isoformat(),
                    f"DLMS-{index:07d}" if dlms else "",
                    zigbee.isoformat() if dlms else "",
                ]
            )


def _no_commit_wait(sender, connection, **kwargs):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")


def _text(name: str, body: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body.encode(), content_type="text/plain")


class Command(BaseCommand):
    help = "Generate the load benchmark's data set (an empty database is expected)."

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, default=20000)
        parser.add_argument("--workdir", default="bench")
        parser.add_argument("--out", default="bench/bench-web-fixture.json")

    def handle(self, *args, models, workdir, out, **options):
        if DeviceModel.objects.exists():
            raise CommandError("bench_web_setup expects an empty database (make bench-web).")
        self.rng = random.Random(10)  # nosec B311  # reproducible benchmark data
        # This process's sessions only: a set-up of thousands of small transactions need not
        # wait for each commit's flush (the server measured later commits as usual).
        connection_created.connect(_no_commit_wait, dispatch_uid="bench_web_setup")
        connection.close()
        started = time.perf_counter()
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        users = self._users()
        self._step("organisations and users", started)

        path = workdir / f"cpl-web-{models}.csv"
        generate_cpl(path, models)
        summary = cpl_import_path(actor=users["secretariat"][0], path=path)
        self._step(f"CPL import: {summary.created} device models", started)
        result = certificates_check(actor=None)
        self._step(f"certificates check ({result})", started)
        self._inventory()
        self._step("inventory", started)

        self.spent: dict[str, list[float]] = {}
        cases = self._cases(users)
        self._step(f"{len(cases)} cases", started)
        for name, times in sorted(self.spent.items(), key=lambda kv: -sum(kv[1])):
            self.stdout.write(f"           {name}: {len(times)} calls, {sum(times):.1f} s")
        self._deliver_notices()
        self._step("notices marked delivered", started)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # autovacuum may be off: plans need statistics
        self._step("VACUUM ANALYZE", started)

        fixture = {
            "password": BENCH_PASSWORD,
            "users": {
                role: [[u.username, bench_totp_secret(u.username)] for u in role_users]
                for role, role_users in users.items()
            },
            "device_models": list(
                DeviceModel.objects.order_by("?").values_list("pk", flat=True)[:2000]
            ),
            "cases": [case.pk for case in cases],
            "open_ballots": list(
                Ballot.objects.filter(state=Ballot.State.OPEN).values_list("pk", flat=True)
            ),
            "counts": self._counts(),
        }
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(fixture, indent=1))
        self.stdout.write(
            "bench-web data set: "
            + ", ".join(f"{v} {k}" for k, v in fixture["counts"].items())
            + f" ({time.perf_counter() - started:.0f} s)"
        )

    def _step(self, what: str, started: float) -> None:
        self.stdout.write(f"  {time.perf_counter() - started:6.1f} s  {what}")

    # --- people ---------------------------------------------------------------------------

    @transaction.atomic
    def _users(self) -> dict[str, list[User]]:
        orgs = {
            "ssc": Organisation.objects.create(name="Security Sub-Committee", party_type=P.SSC),
            "authority": Organisation.objects.create(
                name="Ofgem (the Authority)", party_type=P.AUTHORITY
            ),
            "dcc": Organisation.objects.create(
                name="Data Communications Company", party_type=P.DCC, party_id="DCC01"
            ),
            "experts": Organisation.objects.create(
                name="Meridian Security Evaluation Lab", party_type=P.OTHER
            ),
        }
        suppliers = [
            Organisation.objects.create(
                name=f"Bench Energy Supplier {n:02d}",
                party_type=P.LARGE_SUPPLIER if n % 4 == 0 else P.SMALL_SUPPLIER,
                party_id=f"BSUP{n:02d}",
            )
            for n in range(1, SUPPLIERS + 1)
        ]
        password = make_password(BENCH_PASSWORD)  # hashed once: argon2 is slow on purpose
        groups = {role: Group.objects.get(name=role) for role in Role}
        users: dict[str, list[User]] = {}

        def add(key, username, org, role):
            user = User.objects.create(
                username=username,
                password=password,
                organisation=org,
                email=f"{username}@example.org",
                first_name=username.split("_")[-1].title(),
                last_name="Bench",
            )
            user.groups.add(groups[role])
            TOTPDevice.objects.create(
                user=user,
                name="Bench authenticator",
                key=base64.b32decode(bench_totp_secret(username)).hex(),
                confirmed=True,
            )
            users.setdefault(key, []).append(user)

        for n in range(1, SSC_SECRETARIAT + 1):
            add("secretariat", f"bench_secretariat{n}", orgs["ssc"], Role.SECRETARIAT)
        add("chair", "bench_chair", orgs["ssc"], Role.CHAIR)
        for n in range(1, SSC_MEMBERS + 1):
            add("members", f"bench_member{n:02d}", orgs["ssc"], Role.MEMBER)
        for n, org in enumerate(suppliers, start=1):
            add("suppliers", f"bench_supplier{n:02d}", org, Role.SUPPLIER)
        add("dcc", "bench_dcc", orgs["dcc"], Role.OTHER_PARTY)
        add("authority", "bench_authority", orgs["authority"], Role.AUTHORITY)
        add("experts", "bench_expert", orgs["experts"], Role.EXPERT)
        return users

    def _inventory(self) -> None:
        """A DCC extract: each model held by two or three suppliers."""
        rows = ["Device Model,Supplier Party ID,Device Count,As Of"]
        as_of = (timezone.localdate() - datetime.timedelta(days=3)).isoformat()
        for index, key in enumerate(sorted(model_keys())):
            holders = {index % SUPPLIERS, (index * 7 + 3) % SUPPLIERS}
            if index % 3 == 0:
                holders.add((index * 13 + 5) % SUPPLIERS)
            for holder in sorted(holders):
                rows.append(f"{key},BSUP{holder + 1:02d},{self.rng.randint(50, 90000)},{as_of}")
        data = ("\n".join(rows) + "\n").encode()
        inventory_import(
            actor=None,
            binary=io.BytesIO(data),
            file_name="bench-inventory.csv",
            file_sha256=hashlib.sha256(data).hexdigest(),
        )

    # --- the committee at work --------------------------------------------------------------

    def _cases(self, users) -> list[Case]:
        secretariat, chair = users["secretariat"][0], users["chair"][0]
        members = users["members"]
        by_org = {u.organisation_id: u for u in users["suppliers"]}
        certificates = list(
            AssuranceCertificate.objects.filter(
                kind=AssuranceCertificate.Kind.CPA,
                status=AssuranceCertificate.Status.EXPIRED,
                device_models__status=DeviceModel.Status.LISTED,
            )
            .distinct()
            .order_by("number")[:CASES]
        )
        if len(certificates) < CASES:
            raise CommandError(
                f"Only {len(certificates)} expired CPA certificates: use more models."
            )
        cases = []
        for index, certificate in enumerate(certificates):
            listed = list(certificate.device_models.filter(status=DeviceModel.Status.LISTED))
            affected = cpl_selectors.affected_suppliers([m.pk for m in listed])
            addressed = list(
                Organisation.objects.filter(pk__in=[a["supplier_id"] for a in affected])
            )
            case = self._timed(
                case_open,
                actor=secretariat,
                certificate=certificate,
                device_models=listed,
                event=Case.Event.EXPIRED,
                event_date=certificate.expiry,
                reason="Not renewed: the re-evaluation found a weakness in key storage.",
                severity=self.rng.choice(["low", "medium", "high"]),
                summary=f"Bench case {index}: the manufacturer's re-evaluation is delayed.",
                addressed_to=addressed,
            )
            self._timed(case_transition, actor=secretariat, case=case, name="start_assessment")
            if index % 4 == 0:
                self._timed(
                    evidence_upload,
                    actor=secretariat,
                    case=case,
                    title=f"NCSC assessment {index}",
                    classification="parties" if index % 8 == 0 else "ssc-only",
                    upload=_text(f"assessment-{index}.txt", f"Assessment of case {index}.\n" * 40),
                )
            cases.append(case)
            if index < 40:
                continue  # in assessment
            closes_at = timezone.now() + datetime.timedelta(days=14)
            ballot = self._timed(ballot_open, actor=chair, case=case, closes_at=closes_at)
            if index < 120:
                # Open ballots: four members outside the driver's pool have voted already.
                for member in members[32:36]:
                    self._timed(
                        vote_cast,
                        actor=member,
                        ballot=ballot,
                        choice=self.rng.choice(VoteChoice.values),
                        no_conflict=True,
                    )
                continue
            suspend = index % 2 == 0
            self._timed(self._decide, ballot, members[:24], suspend)
            self._timed(ballot_close, actor=chair, ballot=ballot)
            # The decision notice carries the case's summary for Parties, approved by the chair.
            case = self._timed(
                case_party_summary_write,
                actor=secretariat,
                case=case,
                party_summary=f"Bench case {index}: a weakness in key storage is assessed.",
            )
            self._timed(
                case_party_summary_approve,
                actor=chair,
                case=case,
                read_sha256=party_summary_sha256(case),
            )
            self._timed(
                decision_issue,
                actor=chair,
                case=case,
                reasons="The weakness is exploitable remotely; devices are widely installed.",
                security_factors="Key storage in firmware; no compensating control.",
                operational_impact="Suppliers install other models meanwhile.",
            )
            if not suspend:
                # Fresh rows: the case's related manager would hand back this stale `case`.
                requirements = PlanRequirement.objects.filter(case_id=case.pk).order_by("pk")
                for requirement in requirements[::3]:
                    self._timed(
                        plan_submit,
                        actor=by_org[requirement.supplier_id],
                        requirement=requirement,
                        summary="Replace the affected devices over two years.",
                        upload=_text("plan.txt", "Remedial plan.\n" * 50),
                        milestones=[
                            {
                                "description": "Half replaced",
                                "target_date": timezone.localdate() + datetime.timedelta(days=365),
                                "devices_covered": requirement.device_count // 2,
                            }
                        ],
                    )
            if index % 4 < 2 and addressed:
                self._timed(
                    referral_lodge,
                    actor=by_org[addressed[0].pk],
                    case=case,
                    kind="remove" if suspend else "not_remove",
                    grounds="The devices can be patched remotely; removal is disproportionate."
                    if suspend
                    else "The weakness is too serious to leave the models listed.",
                )
        return cases

    def _timed(self, service, *args, **kwargs):
        started = time.perf_counter()
        try:
            return service(*args, **kwargs)
        finally:
            name = getattr(service, "__name__", str(service))
            self.spent.setdefault(name, []).append(time.perf_counter() - started)

    @staticmethod
    def _deliver_notices() -> None:
        """Set-up publishes notices to the broker with no worker running: mark them delivered
        in bulk, as a worker would have (one attempt each)."""
        from portal.models import NoticeDelivery

        NoticeDelivery.objects.filter(delivered_at__isnull=True).update(
            delivered_at=timezone.now(), attempts=1
        )

    @staticmethod
    @transaction.atomic
    def _decide(ballot: Ballot, members, suspend: bool) -> None:
        """Votes in bulk (a quorum of 24 of 37 voters), with the members' declarations."""
        ConflictDeclaration.objects.bulk_create(
            ConflictDeclaration(case_id=ballot.case_id, member=m, has_conflict=False)
            for m in members
        )
        win, lose = (
            (Decision.SUSPEND, Decision.REMEDIAL_PLAN)
            if suspend
            else (Decision.REMEDIAL_PLAN, Decision.SUSPEND)
        )
        Vote.objects.bulk_create(
            Vote(ballot=ballot, member=m, choice=win if n % 3 else lose)
            for n, m in enumerate(members)
        )

    @staticmethod
    def _counts() -> dict[str, int]:
        from governance.models import EvidenceDocument, Referral
        from portal.models import Notice, NoticeDelivery

        return {
            "device models": DeviceModel.objects.count(),
            "certificates": AssuranceCertificate.objects.count(),
            "organisations": Organisation.objects.count(),
            "users": User.objects.count(),
            "cases": Case.objects.count(),
            "ballots": Ballot.objects.count(),
            "votes": Vote.objects.count(),
            "evidence documents": EvidenceDocument.objects.count(),
            "plan requirements": PlanRequirement.objects.count(),
            "referrals": Referral.objects.count(),
            "notices": Notice.objects.count(),
            "notice deliveries": NoticeDelivery.objects.count(),
        }
