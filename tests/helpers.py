"""Building test data the way users cause it: through services and the real login flow."""

import base64
import csv
import datetime
import io
import time
from pathlib import Path

from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from cpl.exchange import COLUMNS
from cpl.models import AssuranceCertificate, DeviceModel, Manufacturer
from cpl.services import cpl_import, cpl_import_path
from portal.models import Organisation, User
from portal.roles import Role

SAMPLE_CPL = Path(__file__).resolve().parent.parent / "portal" / "demo" / "cpl-sample.csv"
PASSWORD = "correct horse battery staple"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

P = Organisation.PartyType
ROLE_USERS = {
    # key: (role, organisation name, party type, party id)
    "secretariat": (Role.SECRETARIAT, "Security Sub-Committee", P.SSC, None),
    "chair": (Role.CHAIR, "Security Sub-Committee", P.SSC, None),
    "member": (Role.MEMBER, "Security Sub-Committee", P.SSC, None),
    "expert": (Role.EXPERT, "Test Lab", P.OTHER, None),
    "supplier_a": (Role.SUPPLIER, "Supplier A Energy", P.LARGE_SUPPLIER, "SUPA"),
    "supplier_b": (Role.SUPPLIER, "Supplier B Power", P.SMALL_SUPPLIER, "SUPB"),
    "dcc": (Role.OTHER_PARTY, "DCC", P.DCC, "DCC"),
    "network": (Role.OTHER_PARTY, "Network Operator", P.NETWORK_OPERATOR, "DNO1"),
    "authority": (Role.AUTHORITY, "Ofgem", P.AUTHORITY, None),
}


def make_user(key: str, username: str | None = None, with_device: bool = True) -> User:
    role, org_name, party_type, party_id = ROLE_USERS[key]
    organisation, _ = Organisation.objects.get_or_create(
        name=org_name, defaults={"party_type": party_type, "party_id": party_id}
    )
    user = User.objects.create_user(
        username=username or key,
        password=PASSWORD,
        organisation=organisation,
        email=f"{username or key}@example.org",
    )
    user.groups.add(Group.objects.get(name=role))
    if with_device:
        enrol_device(user)
    return user


def current_code(secret: str = TOTP_SECRET, offset: int = 0) -> str:
    return f"{totp(base64.b32decode(secret), t0=0, step=30, digits=6, drift=offset):06d}"


def enrol_device(user: User) -> TOTPDevice:
    """The user's confirmed authenticator, set up (with TOTP_SECRET) if there is none yet."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(
        user=user, name="phone", confirmed=True, key=base64.b32decode(TOTP_SECRET).hex()
    )


def sign_in(client, user: User) -> None:
    """A fully signed-in session: password and second factor. Every user has one (portal.
    middleware.SecondFactorRequiredMiddleware), so a user made without a device gets one."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = enrol_device(user).persistent_id
    session.save()


CPL_HEADER = COLUMNS


def cpl_row(index: int, *, device_type: str = "CHF", expiry_years: int = 5, **overrides) -> dict:
    """A valid exchange row, unique by index; certificates valid for years unless overridden."""
    today = datetime.date.today()
    expiry = (today + datetime.timedelta(days=365 * expiry_years)).isoformat()
    issued = (today - datetime.timedelta(days=365)).isoformat()
    row = {
        "Device Type": device_type,
        "Manufacturer ID": "1A2B",
        "Manufacturer Name": "Northfield Metering",
        "Model ID": f"{index // 65536:04X}",
        "Hardware Version": "0100",
        "Firmware Version": f"{index % 65536:08X}",
        "SMETS CHTS Version": "SMETS2 v5.0",
        "Date Added": "2022-01-10",
        "CPA Certificate Number": f"CPA-T-{index}",
        "CPA Issue Date": issued,
        "CPA Expiry Date": expiry,
        "ZigBee Certificate Number": f"ZB-T-{index}",
        "ZigBee Expiry Date": expiry,
        "DLMS Certificate Number": "",
        "DLMS Expiry Date": "",
    }
    if device_type in ("ESME", "GSME"):
        row["DLMS Certificate Number"], row["DLMS Expiry Date"] = f"DLMS-T-{index}", expiry
    row.update(overrides)
    return row


def cpl_csv(rows: list[dict], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or CPL_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def import_bytes(data: bytes, actor=None, name: str = "test.csv"):
    return cpl_import(actor=actor, binary=io.BytesIO(data), size=len(data), file_name=name)


def import_sample(actor=None):
    return cpl_import_path(actor=actor, path=SAMPLE_CPL)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def pdf_upload(name="advice.pdf", data=PDF_BYTES):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/pdf")


def cpa_case(users, *, addressed=("supplier_a",), models=2):
    """A case opened by the secretariat on an expired CPA certificate shared by `models` models."""
    from governance.services import case_open

    expired = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    import_bytes(
        cpl_csv(
            [
                cpl_row(
                    900 + i,
                    **{
                        "CPA Certificate Number": "CPA-SHARED-1",
                        "CPA Issue Date": "2020-01-01",
                        "CPA Expiry Date": expired,
                    },
                )
                for i in range(models)
            ]
        )
    )
    from cpl.models import AssuranceCertificate

    certificate = AssuranceCertificate.objects.get(number="CPA-SHARED-1")
    return case_open(
        actor=users["secretariat"],
        certificate=certificate,
        device_models=certificate.device_models.all(),
        event="expired",
        # One case per certificate event: a second case here is a later event, with its own date.
        event_date=certificate.expiry + datetime.timedelta(days=certificate.cases.count()),
        reason="Certificate lapsed during re-evaluation",
        severity="high",
        summary="Key handling weakness found in re-evaluation.",
        addressed_to=[users[key].organisation for key in addressed],
    )


def vote_unanimously(committee, case, decision="remedial_plan"):
    """The chair opens a ballot on a case in assessment; every member declares no conflict and
    votes `decision`; the chair closes it. Returns the ballot."""
    from governance import services

    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    for member in committee["members"]:
        services.conflict_declare(actor=member, case=case, has_conflict=False, reason="")
        services.vote_cast(actor=member, ballot=ballot, choice=decision)
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    return ballot


def party_summary_approved(committee, case, chair=None):
    """The case's chair approves its summary for Parties (the secretariat writes one first if
    there is none): a decision is issued only then."""
    from governance import record
    from governance.models import Case

    case = Case.objects.get(pk=case.pk)
    if case.party_summary_approved_at:
        return case
    if not case.party_summary:  # one already written is approved as it stands
        record.case_party_summary_write(
            actor=committee["secretariat"], case=case, party_summary="A key handling weakness."
        )
        case = Case.objects.get(pk=case.pk)
    record.case_party_summary_approve(
        actor=chair or committee["chair"], case=case, read_sha256=record.party_summary_sha256(case)
    )
    return Case.objects.get(pk=case.pk)


def decided_case(committee, decision="remedial_plan", inventory=(("SUPA", 1200), ("SUPB", 300))):
    """A case through the whole vote to an issued decision, with an inventory extract in which
    each (party id, devices) is responsible for devices of the case's models."""
    import io as _io

    from cpl.inventory import inventory_import
    from governance import services

    case = cpa_case(committee, models=1)  # the inventory below covers it (clause 6.3)
    model = case.device_models.order_by("pk").first()
    key = "/".join(model.identity)
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
        f"{key},{party},{count},2026-11-01\n" for party, count in inventory
    )
    inventory_import(
        actor=committee["secretariat"],
        binary=_io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    vote_unanimously(committee, case, decision)
    party_summary_approved(committee, case)
    services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="Proportionate",
        security_factors="Local access",
        operational_impact="Large",
    )
    case.refresh_from_db()
    return case


def referral_pack_sent(committee, kind="remove", decision="suspend"):
    """A decided case referred by supplier_a with a grounds document, and the pack the
    secretariat sent with one ssc-only evidence document disclosed: (case, referral, pack)."""
    from governance import referrals, services
    from governance.models import Referral

    case = decided_case(committee, decision=decision)
    evidence = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="NCSC advice",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"],
        case=case,
        kind=kind,
        grounds="Disproportionate to the risk",
        uploads=[pdf_upload("grounds.pdf")],
    )
    pack = referrals.referral_send_pack(
        actor=committee["secretariat"], referral=referral, disclosed=[evidence]
    )
    return case, Referral.objects.get(pk=referral.pk), pack


def committee_at_work(users, *, members: int, cases: int, start: int = 0) -> list:
    """`members` more voting members and `cases` more cases in voting, each with an open ballot
    in which every one of those members has declared no conflict and voted (bulk-written: the
    query-count tests need the rows, not the services' path to them). Returns the ballots."""
    from governance import services
    from governance.models import ConflictDeclaration, Vote

    voters = [make_user("member", f"voter{start + i}") for i in range(members)]
    ballots = []
    for _ in range(cases):
        case = cpa_case(users)
        services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
        ballot = services.ballot_open(
            actor=users["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
        )
        ConflictDeclaration.objects.bulk_create(
            ConflictDeclaration(case=case, member=voter, has_conflict=False, reason="")
            for voter in voters
        )
        Vote.objects.bulk_create(
            Vote(ballot=ballot, member=voter, choice="suspend") for voter in voters
        )
        ballots.append(ballot)
    return ballots


def register_state() -> tuple:
    """Everything an import may change, to prove a rejected file changed nothing."""
    return (
        sorted(
            DeviceModel.objects.values_list(
                "manufacturer__manufacturer_id",
                "model_id",
                "hardware_version",
                "firmware_version",
                "status",
                "smets_chts_version",
                "date_added",
            )
        ),
        sorted(
            AssuranceCertificate.objects.values_list("kind", "number", "issued", "expiry", "status")
        ),
        sorted(Manufacturer.objects.values_list("manufacturer_id", "name")),
        sorted(
            DeviceModel.certificates.through.objects.values_list(
                "devicemodel_id", "assurancecertificate_id"
            )
        ),
    )
