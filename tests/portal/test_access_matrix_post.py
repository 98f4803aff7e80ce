"""Every state-changing URL × every role × the states where it matters → the one expected outcome
of a POST with valid data, from a single table (the POST half of test_access_matrix.py).

A URL that accepts POST and has no row here fails the test: no state-changing URL ships without
a decision on who may POST it.

Each scenario (URL, state) builds its own objects through the services, as users would cause
them; every role then POSTs against that same state inside a savepoint that is rolled back, so one
allowed POST does not affect the next role. A refused POST (400, 403, 404, 405, 409, sign-in
redirect, or a harmless redirect) must change nothing: the object's state and the number of audit
events are the same afterwards. An allowed POST must answer 2xx/3xx, change the state as intended
and write its audit event.

Outcomes: DONE (allowed: the change happened), LOGIN (sent to sign in), NOOP (a redirect that
changes nothing), 400 (the form refuses the data; nothing changed), 403 (forbidden: this user may
never do this), 404 (this user may not know the object exists), 409 (an allowed role, but not
now: the object's state refuses it, or it changed meanwhile).
"""

from __future__ import annotations

import base64
import datetime
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from cpl.inventory import inventory_import
from cpl.models import (
    AssuranceCertificate,
    CPLImport,
    CPLRemoval,
    CPLVersion,
    DeviceModel,
    EmergencyEntryRequest,
    InventorySnapshot,
    Manufacturer,
    ProductCombination,
)
from cpl.services import certificate_add, certificate_record_event, cpl_version_publish
from governance import plans, record, referrals, services
from governance.models import (
    Ballot,
    Case,
    CaseComment,
    ConflictDeclaration,
    DecisionRecord,
    EvidenceDocument,
    EvidenceDocumentUserObjectPermission,
    ExpertInvitation,
    PlanRequirement,
    Recommendation,
    Referral,
    Representation,
    SecurityCharacteristics,
    SupplierPolicy,
    Vote,
)
from portal.models import AuditEvent, NoticeDelivery, User
from portal.notices import notice_send

from ..helpers import (
    PASSWORD,
    TOTP_SECRET,
    cpa_case,
    cpl_csv,
    cpl_row,
    current_code,
    import_bytes,
    make_user,
    party_summary_approved,
    pdf_upload,
    sign_in,
)
from .test_access_matrix import iter_url_names

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "secretariat",
    "chair",
    "member",
    "conflicted_member",  # an SSC member who declared a conflict of interest on the case
    "expert",  # a technical expert not invited to the case
    "invited_expert",  # a technical expert invited to the case (unexpired)
    "supplier_a",  # the supplier the case is addressed to, and whose plan it is
    "supplier_b",  # another supplier: not addressed, no plan
    "dcc",
    "network",
    "authority",
]
# A scenario may add roles of its own: `acting_chair` (member2, designated by the secretariat
# because the chair declared a conflict on the case).

DONE, LOGIN, NOOP = "done", "login", "noop"
INVALID, FORBIDDEN, NOT_FOUND, NOT_ALLOWED, NOT_NOW = 400, 403, 404, 405, 409
REFUSALS = {LOGIN, NOOP, INVALID, FORBIDDEN, NOT_FOUND, NOT_ALLOWED, NOT_NOW}

SSC = ("secretariat", "chair", "member", "conflicted_member")
OPENED_CASE_READERS = (*SSC, "invited_expert", "supplier_a")
# From the assessment on, the case is addressed to the DCC and the suppliers with devices, as
# its decision will be (SEC F2.7B): they may make representations, see it, and refer it.
CASE_READERS = DECIDED_CASE_READERS = (*OPENED_CASE_READERS, "dcc")
# Supplier A's plan; the member conflicted on its case sees only what a Party would (issue 11).
PLAN_READERS = ("secretariat", "chair", "member", "supplier_a")
BALLOT_READERS = ("secretariat", "chair", "member")  # conflicted ones get 404 (issue 11)
# Supplier A's referral; the Authority from the moment it is lodged: the pack follows (issue 11).
REFERRAL_READERS = (*SSC, "supplier_a", "authority")
REGISTER_READERS = (*SSC, "supplier_a", "supplier_b", "dcc", "network")

TODAY = datetime.date.today()


def table(readers, default=FORBIDDEN, **overrides):
    """Who may see the object gets `default` unless overridden; who may not see it gets 404 (its
    existence is not revealed); anonymous visitors are sent to sign in."""
    expected = {role: NOT_FOUND for role in ROLES}
    expected.update({role: default for role in readers})
    expected["anonymous"] = LOGIN
    expected.update(overrides)
    return expected


def everyone(default, **overrides):
    """Pages with no object to hide: every signed-in role gets `default` unless overridden."""
    return table(ROLES, default, **overrides)


# --- building the states, through the services --------------------------------------------------


@pytest.fixture
def people(users):
    return {
        **users,
        "conflicted_member": make_user("member", "conflicted"),
        "invited_expert": make_user("expert", "invited_expert"),
        # Voting members beside `member`, so that ballots reach quorum; member2 is the acting
        # chair where one is designated.
        "member2": make_user("member", "member2"),
        "member3": make_user("member", "member3"),
    }


def fresh(obj):
    return type(obj)._default_manager.get(pk=obj.pk)


class Story:
    """A case from its opening to its closing, and its plans and referrals, as users cause them.
    The case concerns devices of supplier A only; supplier B is never addressed."""

    def __init__(self, people):
        self.p = people

    # cases

    def case(self, *, chair_conflicted=False, acting_chair=False) -> Case:
        p = self.p
        case = cpa_case(p)
        model = case.device_models.order_by("pk").first()
        extract = (
            "Device Model,Supplier Party ID,Device Count,As Of\n"
            f"{'/'.join(model.identity)},SUPA,1200,2026-11-01\n"
        )
        inventory_import(
            actor=p["secretariat"],
            binary=io.BytesIO(extract.encode()),
            file_name="inventory.csv",
            file_sha256="0" * 64,
        )
        services.conflict_declare(
            actor=p["conflicted_member"], case=case, has_conflict=True, reason="Works for SUPA"
        )
        services.expert_invite(
            actor=p["secretariat"],
            case=case,
            expert=p["invited_expert"],
            expires_at=timezone.now() + datetime.timedelta(days=60),
        )
        if chair_conflicted or acting_chair:
            services.conflict_declare(
                actor=p["chair"], case=case, has_conflict=True, reason="Advises SUPA"
            )
        if acting_chair:
            services.case_designate_acting_chair(
                actor=p["secretariat"], case=fresh(case), member=p["member2"]
            )
        return fresh(case)

    def chair_of(self, case):
        return self.p["member2"] if case.acting_chair_id else self.p["chair"]

    def voters(self, case):
        return [
            self.p[key]
            for key in ("member", "member2", "member3")
            if self.p[key].pk != case.acting_chair_id
        ]

    def assessment(self, **kw) -> Case:
        case = self.case(**kw)
        services.case_transition(actor=self.p["secretariat"], case=case, name="start_assessment")
        return fresh(case)

    def voting(self, **kw) -> tuple[Case, Ballot]:
        case = self.assessment(**kw)
        ballot = services.ballot_open(
            actor=self.chair_of(case),
            case=case,
            closes_at=timezone.now() + datetime.timedelta(days=2),
        )
        return fresh(case), ballot

    def vote(self, case, ballot, choices):
        for voter, choice in zip(self.voters(case), choices, strict=False):
            services.vote_cast(actor=voter, ballot=ballot, choice=choice, no_conflict=True)

    def voted(self, **kw) -> tuple[Case, Ballot]:
        """An open ballot every eligible member voted in for remedial plans."""
        case, ballot = self.voting(**kw)
        self.vote(case, ballot, ["remedial_plan"] * 3)
        return case, fresh(ballot)

    def decided(self, **kw) -> Case:
        case, ballot = self.voted(**kw)
        services.ballot_close(actor=self.chair_of(case), ballot=ballot)
        # A decision is issued once the case's chair approved the summary for Parties.
        party_summary_approved(self.p, case, chair=self.chair_of(case))
        return fresh(case)

    def tied(self, **kw) -> tuple[Case, Ballot]:
        case, ballot = self.voting(**kw)
        self.vote(case, ballot, ["suspend", "remedial_plan", "abstain"])
        services.ballot_close(actor=self.chair_of(case), ballot=ballot)
        ballot = fresh(ballot)
        assert ballot.state == Ballot.State.AWAITING_CASTING_VOTE
        return fresh(case), ballot

    def decided_while_chair_conflicted(self) -> Case:
        """The chair opened the ballot, then declared a conflict; the ballot closed at its time
        (the beat task): nobody may issue the decision until an acting chair is designated."""
        case, ballot = self.voted()
        services.conflict_declare(
            actor=self.p["chair"], case=case, has_conflict=True, reason="Advises SUPA"
        )
        services.ballot_close(actor=None, ballot=ballot)
        case = fresh(case)
        assert case.state == Case.State.DECIDED
        return case

    def issued(self, **kw) -> Case:
        case = self.decided(**kw)
        services.decision_issue(
            actor=self.chair_of(case),
            case=case,
            reasons="Proportionate",
            security_factors="Local access only",
            operational_impact="1,200 devices",
            no_devices_reason="The models without inventory coverage have no devices (test data).",
        )
        return fresh(case)

    def closable(self) -> Case:
        """Remediation, supplier A's plan completed, and the referral window has passed."""
        requirement = self.requirement("completed")
        # Time passes: the decision was issued two months ago.
        DecisionRecord.objects.filter(case=requirement.case).update(
            issued_at=timezone.now() - datetime.timedelta(days=60)
        )
        return fresh(requirement.case)

    def closed(self) -> Case:
        case = self.closable()
        services.case_transition(actor=self.p["secretariat"], case=case, name="close")
        return fresh(case)

    def document(self, case, classification) -> EvidenceDocument:
        return services.evidence_upload(
            actor=self.p["secretariat"],
            case=case,
            title=f"A {classification} document",
            classification=classification,
            upload=pdf_upload(),
        )

    # remedial plans

    def requirement(self, state) -> PlanRequirement:
        p = self.p
        case = self.issued()
        requirement = PlanRequirement.objects.get(case=case, supplier=p["supplier_a"].organisation)
        steps = {
            "notified": [],
            "submitted": ["submit"],
            "revised": ["submit", "submit"],  # version 2 submitted before any review
            "approved": ["submit", "approve"],
            "not_approved": ["submit", "not_approve"],
            "completed": ["submit", "approve", "complete"],
        }[state]
        for step in steps:
            requirement = fresh(requirement)
            if step == "submit":
                plans.plan_submit(
                    actor=p["supplier_a"],
                    requirement=requirement,
                    summary="Firmware update",
                    upload=pdf_upload("plan.pdf"),
                    milestones=[
                        {
                            "description": "Firmware",
                            "target_date": TODAY + datetime.timedelta(days=90),
                            "devices_covered": 1200,
                        }
                    ],
                )
            elif step in ("approve", "not_approve"):
                plans.plan_review(
                    actor=p["member"],
                    requirement=requirement,
                    version=requirement.plans.order_by("-version").first().version,
                    approve=step == "approve",
                    comments="" if step == "approve" else "Too slow",
                )
            else:
                plans.plan_complete(actor=p["member"], requirement=requirement)
        requirement = fresh(requirement)
        assert requirement.state == {"revised": "submitted"}.get(state, state)
        return requirement

    # referrals

    def referral(self, state) -> Referral:
        p = self.p
        case = self.issued()
        referral = referrals.referral_lodge(
            actor=p["supplier_a"], case=case, kind="not_remove", grounds="Disproportionate"
        )
        order = [
            "lodged",
            "pack_sent",
            "information_requested",
            "information_provided",
            "determined",
            "closed",
        ]
        reached = order[: order.index(state) + 1]
        if "pack_sent" in reached:
            referrals.referral_send_pack(actor=p["secretariat"], referral=referral, disclosed=[])
        if "information_requested" in reached:
            referrals.information_request(
                actor=p["authority"],
                referral=fresh(referral),
                text="The NCSC advice, please",
                due_date=TODAY + datetime.timedelta(days=10),
            )
        if "information_provided" in reached:
            referrals.information_provide(
                actor=p["secretariat"],
                request=fresh(referral).information_requests.get(),
                response="Attached",
            )
        if "determined" in reached:
            referrals.referral_determine(
                actor=p["authority"],
                referral=fresh(referral),
                outcome="upheld",
                reasons="The SSC's decision stands",
                effective_date=TODAY,
            )
        if "closed" in reached:
            referrals.referral_close(actor=p["secretariat"], referral=fresh(referral))
        referral = fresh(referral)
        assert referral.state == state
        return referral

    # the register

    def register(self, **overrides) -> DeviceModel:
        """A listed SMETS2 communications hub with valid certificates (or `overrides`)."""
        import_bytes(cpl_csv([cpl_row(1, **overrides)]))
        return DeviceModel.objects.get(firmware_version=f"{1:08X}")


# --- what each POST is, and what it should do ---------------------------------------------------


def no_change(before):
    return before


@dataclass
class Target:
    """One URL in one state: what to POST, what to look at, and what an allowed POST changes."""

    kwargs: dict
    data: Callable[[], dict]  # called once per POST: uploads are consumed
    probe: Callable[[SimpleNamespace], dict]  # the state that matters, read from the database
    effect: Callable[[dict], dict]  # the probe's values after an allowed POST (a subset)
    extra_roles: dict = field(default_factory=dict)
    signed_in: str = "fully"  # "fully", or "password" (the second factor still to pass)
    prepare: Callable[[User], None] | None = None  # per role, inside its savepoint
    audited: bool = True  # an allowed POST writes an audit event


def becomes(**values):
    return lambda before: values


def grows(key, by=1, **values):
    return lambda before: {key: before[key] + by, **values}


def fields_of(obj, *names):
    def probe(ctx):
        row = type(obj)._default_manager.filter(pk=obj.pk).values(*names).get()
        return dict(row)

    return probe


def counted(**querysets):
    """Probe: the number of rows of each queryset (re-evaluated on each call)."""
    return lambda ctx: {key: qs.all().count() for key, qs in querysets.items()}


def both(*probes):
    def probe(ctx):
        merged = {}
        for each in probes:
            merged.update(each(ctx))
        return merged

    return probe


def pdf(name="document.pdf"):
    return pdf_upload(name)


def closes_at():
    return (timezone.localtime() + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


# --- portal: accounts, inbox, admin --------------------------------------------------------------


def t_login(s):
    return Target(
        {},
        lambda: {"username": "member2", "password": PASSWORD},
        lambda ctx: {"signed_in_as": ctx.client.session.get("_auth_user_id")},
        becomes(signed_in_as=str(s.p["member2"].pk)),
        audited=False,  # signing in is not an audit event; a failure is (tests/portal/test_login)
    )


def t_logout(s):
    return Target(
        {},
        dict,
        lambda ctx: {"signed_in_as": ctx.client.session.get("_auth_user_id")},
        becomes(signed_in_as=None),
        audited=False,
    )


def _device_in_session(ctx):
    return {"second_factor": ctx.client.session.get(DEVICE_ID_SESSION_KEY)}


def t_mfa_verify(s):
    """Signed in with the password; the security code is still to enter."""
    return Target(
        {},
        lambda: {"token": current_code()},
        _device_in_session,
        becomes(second_factor="changed"),
        signed_in="password",
        audited=False,  # a wrong code is audited; the right one is the sign-in
    )


def _confirmed_devices(ctx):
    devices = TOTPDevice.objects.filter(confirmed=True)
    if ctx.user is not None:
        devices = devices.filter(user=ctx.user)
    return {"confirmed_devices": devices.count()}


def _first_sign_in(user):
    """A user who has not enrolled an authenticator yet: the setup page has made one."""
    TOTPDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.create(
        user=user,
        name="Authenticator app",
        confirmed=False,
        key=base64.b32decode(TOTP_SECRET).hex(),
    )


def t_mfa_setup_new(s):
    return Target(
        {},
        lambda: {"token": current_code()},
        _confirmed_devices,
        grows("confirmed_devices"),
        signed_in="password",
        prepare=_first_sign_in,
    )


def t_mfa_setup_enrolled(s):
    return Target({}, lambda: {"token": current_code()}, _confirmed_devices, no_change)


NEW_PASSWORD = "another horse, another battery 42"


def t_password_change(s):
    def probe(ctx):
        if ctx.user is None:
            return {"password": None}
        return {"password": User.objects.get(pk=ctx.user.pk).password}

    def effect(before):
        return {"password": "changed"}  # compared by `changed_as_intended`

    return Target(
        {},
        lambda: {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        probe,
        effect,
    )


def t_inbox_acknowledge(s):
    notice = notice_send(
        actor=s.p["secretariat"],
        kind="decision",
        subject="Decision",
        body="Body",
        organisations=[s.p["supplier_a"].organisation],
    )
    delivery = NoticeDelivery.objects.get(notice=notice, recipient=s.p["supplier_a"])
    return Target(
        {"pk": delivery.pk},
        dict,
        lambda ctx: {
            "acknowledged": NoticeDelivery.objects.get(pk=delivery.pk).acknowledged_at is not None
        },
        becomes(acknowledged=True),
    )


def t_admin_user_add(s):
    """Creating a superuser through the admin is the prize; every role is refused outright."""
    return Target(
        {},
        lambda: {
            "username": "intruder",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
        },
        counted(users=User.objects.all()),
        grows("users"),
    )


# --- the CPL register ----------------------------------------------------------------------------


def t_certificate_event(state):
    def build(s):
        model = s.register()
        certificate = model.certificates.get(kind="cpa")
        if state == "withdrawn":
            certificate_record_event(
                actor=s.p["secretariat"],
                certificate=certificate,
                event="withdraw",
                on=TODAY,
                reason="Vulnerability",
            )
        return Target(
            {"pk": certificate.pk},
            lambda: {"event": "withdraw", "on": TODAY.isoformat(), "reason": "Key handling"},
            fields_of(certificate, "status"),
            becomes(status="withdrawn"),
        )

    return build


def t_certificate_add(state):
    def build(s):
        if state == "removed":
            # A lapsed ZigBee certificate removed the model from the CPL automatically.
            past = (TODAY - datetime.timedelta(days=2)).isoformat()
            model = s.register(**{"ZigBee Expiry Date": past})
            assert model.status == DeviceModel.Status.REMOVED
        else:
            model = s.register()
        return Target(
            {"pk": model.pk},
            lambda: {
                "kind": "zigbee",
                "number": "ZB-RENEWED-1",
                "issued": TODAY.isoformat(),
                "expiry": (TODAY + datetime.timedelta(days=900)).isoformat(),
            },
            both(
                fields_of(model, "status"),
                counted(certificates=AssuranceCertificate.objects.filter(device_models=model)),
            ),
            # A renewed certificate never re-lists: the secretariat does, as its own action.
            grows("certificates", status=model.status),
        )

    return build


def t_relist(state):
    def build(s):
        if state == "listed":
            model = s.register()
        else:
            # A lapsed ZigBee certificate removed the model from the CPL automatically.
            past = (TODAY - datetime.timedelta(days=2)).isoformat()
            model = s.register(**{"ZigBee Expiry Date": past})
            assert model.status == DeviceModel.Status.REMOVED
            if state == "removed, certificates renewed":
                certificate_add(
                    actor=s.p["secretariat"],
                    device_model=model,
                    kind="zigbee",
                    number="ZB-RENEWED-1",
                    issued=TODAY,
                    expiry=TODAY + datetime.timedelta(days=900),
                )
        return Target(
            {"pk": model.pk},
            lambda: {"reason": "ZigBee certificate renewed"},
            both(
                fields_of(model, "status"),
                counted(
                    open_removals=CPLRemoval.objects.filter(
                        device_model=model, relisted_at__isnull=True
                    )
                ),
            ),
            becomes(status="listed", open_removals=0),
        )

    return build


def t_cpl_import(s):
    return Target(
        {},
        lambda: {"file": _upload("cpl.csv", cpl_csv([cpl_row(7)]), "text/csv")},
        counted(imports=CPLImport.objects.all()),
        grows("imports"),
        audited=False,  # the import itself is audited when the worker runs it
    )


def emergency_epc():
    """Two SMETS1 models on an EPC entry: what an emergency CPL entry request is about."""
    from cpl.combinations import product_combination_save

    maker, _ = Manufacturer.objects.get_or_create(
        manufacturer_id="6B6B", defaults={"name": "SMETS1 Meters"}
    )
    meter, hub = (
        DeviceModel.objects.get_or_create(
            device_type=kind,
            manufacturer=maker,
            model_id=model_id,
            hardware_version="0100",
            firmware_version="00000001",
            defaults={"smets_generation": "SMETS1", "date_added": datetime.date(2020, 1, 1)},
        )[0]
        for kind, model_id in (("ESME", "0001"), ("CHF", "0002"))
    )
    entry = product_combination_save(
        actor=None,
        reference="EPC-EMERGENCY",
        csp="CSP North",
        device_models=[meter, hub],
        on_list="epc",
        first_added=datetime.date(2021, 1, 1),
    )
    return meter, entry


def t_emergency_submit(s):
    meter, entry = emergency_epc()
    return Target(
        {},
        lambda: {
            "device_model": str(meter.pk),
            "new_firmware_version": "0000000A",
            "combinations": [str(entry.pk)],
            "vulnerability_summary": "Buffer overflow in the HAN parser.",
            "summary_classification": "ssc-only",
        },
        counted(requests=EmergencyEntryRequest.objects.all()),
        grows("requests"),
    )


def t_emergency_accept(s):
    from cpl.emergency import emergency_request_submit

    meter, entry = emergency_epc()
    request = emergency_request_submit(
        actor=s.p["supplier_a"],
        device_model=meter,
        new_firmware_version="0000000A",
        combinations=[entry],
        vulnerability_summary="Buffer overflow in the HAN parser.",
        summary_classification="ssc-only",
    )
    return Target(
        {"pk": request.pk, "step": "accept"},
        dict,
        fields_of(request, "state"),
        becomes(state="accepted"),
    )


def t_combination_import(s):
    """A Pending Product Combinations list of one SMETS1 electricity meter."""
    maker, _ = Manufacturer.objects.get_or_create(
        manufacturer_id="5A5A", defaults={"name": "Maker 5A5A"}
    )
    DeviceModel.objects.get_or_create(
        device_type="ESME",
        manufacturer=maker,
        model_id="5A01",
        hardware_version="0100",
        firmware_version="00000001",
        defaults={"smets_generation": "SMETS1", "date_added": TODAY},
    )
    data = b"Combination ID,List,CSP,Device Models\nPC-1,PPC,CSP North,5A5A/5A01/0100/00000001\n"
    return Target(
        {},
        lambda: {"file": _upload("lists.csv", data, "text/csv")},
        counted(combinations=ProductCombination.objects.all()),
        grows("combinations"),
    )


def _upload(name, data, content_type):
    return SimpleUploadedFile(name, data, content_type=content_type)


def t_version_publish(state):
    def build(s):
        s.register()
        if state == "unchanged since the last version":
            cpl_version_publish(actor=s.p["secretariat"])
        return Target({}, dict, counted(versions=CPLVersion.objects.all()), grows("versions"))

    return build


def t_inventory(s):
    model = s.register()
    extract = (
        "Device Model,Supplier Party ID,Device Count,As Of\n"
        f"{'/'.join(model.identity)},SUPA,10,2026-11-01\n"
    ).encode()
    return Target(
        {},
        lambda: {"file": _upload("inventory.csv", extract, "text/csv")},
        counted(snapshots=InventorySnapshot.objects.all()),
        grows("snapshots"),
    )


# --- cases ---------------------------------------------------------------------------------------


def t_case_open(state):
    def build(s):
        if state == "valid CPA certificate":
            certificate = s.register().certificates.get(kind="cpa")
        else:
            certificate = s.case().certificate  # expired; a first case is open on it already
        models = list(certificate.device_models.values_list("pk", flat=True))
        return Target(
            {"certificate_pk": certificate.pk},
            lambda: {
                "device_models": models,
                "event": "expired",
                "event_date": (TODAY - datetime.timedelta(days=1)).isoformat(),
                "reason": "Lapsed",
                "severity": "medium",
                "summary": "Re-evaluation pending",
                "addressed_to": [s.p["supplier_a"].organisation_id],
            },
            counted(cases=Case.objects.all()),
            grows("cases"),
        )

    return build


def case_state(case):
    return fields_of(case, "state", "acting_chair")


def t_case_action(action, state):
    def build(s):
        extra = {}
        if state == "opened":
            case = s.case()
        elif state == "opened, chair conflicted, acting chair":
            case = s.case(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        elif state == "assessment":
            case = s.assessment()
        elif state == "remediation, plan notified":
            case = s.issued()
        elif state == "remediation, plan completed, window passed":
            case = s.closable()
        else:
            raise AssertionError(state)
        target = {"start_assessment": "assessment", "close": "closed"}[action]
        return Target(
            {"case_pk": case.pk, "action": action},
            dict,
            case_state(case),
            lambda before: {**before, "state": target},
            extra_roles=extra,
        )

    return build


def t_evidence_upload(state):
    def build(s):
        case = s.assessment() if state == "assessment" else s.closed()
        return Target(
            {"case_pk": case.pk},
            lambda: {"title": "NCSC advice", "classification": "parties", "file": pdf()},
            counted(documents=EvidenceDocument.objects.filter(case=case)),
            grows("documents"),
        )

    return build


def t_evidence_grant(classification):
    def build(s):
        case = s.assessment()
        document = s.document(case, classification)
        grants = EvidenceDocumentUserObjectPermission.objects.filter(content_object=document)
        return Target(
            {"case_pk": case.pk, "document_pk": document.pk},
            lambda: {"users": [s.p["member"].pk]},
            counted(grants=grants),
            grows("grants"),
        )

    return build


def declarations(case):
    return lambda ctx: {
        "declarations": sorted(
            ConflictDeclaration.objects.filter(case=case).values_list(
                "member__username", "has_conflict", "reason"
            )
        )
    }


def t_conflict(state):
    def build(s):
        if state == "assessment":
            case = s.assessment()
            data = {"has_conflict": "yes", "reason": "Consults for SUPA"}
        elif state == "voting, withdrawing a conflict":
            case, _ballot = s.voting()
            data = {"has_conflict": "no", "reason": ""}
        else:
            case = s.decided()
            data = {"has_conflict": "yes", "reason": "Consults for SUPA"}

        def effect(before):
            return {"declarations": "changed"}

        return Target({"case_pk": case.pk}, lambda: dict(data), declarations(case), effect)

    return build


def t_acting_chair(state):
    def build(s):
        if state == "assessment, chair conflicted":
            case = s.assessment(chair_conflicted=True)
        elif state == "assessment, chair not conflicted":
            case = s.assessment()
        else:  # the acting chair issued the decision
            case = s.issued(acting_chair=True)
        return Target(
            {"case_pk": case.pk},
            lambda: {"member": s.p["member3"].pk},
            case_state(case),
            lambda before: {**before, "acting_chair": s.p["member3"].pk},
        )

    return build


def invitations(case):
    return lambda ctx: {
        "invitations": sorted(
            ExpertInvitation.objects.filter(case=case).values_list("expert__username", flat=True)
        )
    }


def t_expert_invite(state):
    def build(s):
        extra = {}
        if state == "assessment":
            case = s.assessment()
        elif state == "assessment, chair conflicted, acting chair":
            case = s.assessment(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        else:
            case = s.issued()
        return Target(
            {"case_pk": case.pk},
            lambda: {
                "expert": s.p["expert"].pk,
                "expires_on": (TODAY + datetime.timedelta(days=10)).isoformat(),
            },
            invitations(case),
            becomes(invitations=["expert", "invited_expert"]),
            extra_roles=extra,
        )

    return build


def t_comment(s):
    case = s.assessment()
    return Target(
        {"case_pk": case.pk},
        lambda: {"text": "Is the key extractable remotely?"},
        counted(comments=CaseComment.objects.filter(case=case)),
        grows("comments"),
    )


def t_representation(state):
    def build(s):
        case = s.assessment() if state == "assessment" else s.voting()[0]
        return Target(
            {"case_pk": case.pk},
            lambda: {"text": "Suspension strands 1,200 homes", "classification": "ssc-only"},
            counted(representations=Representation.objects.filter(case=case)),
            grows("representations"),
        )

    return build


def t_recommendation(state):
    def build(s):
        case = s.assessment() if state == "assessment" else s.voting()[0]
        return Target(
            {"case_pk": case.pk},
            lambda: {"recommendation": "remedial_plan", "reasons": "Local access only"},
            counted(recommendations=Recommendation.objects.filter(case=case)),
            grows("recommendations"),
        )

    return build


def t_party_summary(state):
    def build(s):
        case = s.assessment() if state == "assessment" else s.closed()
        return Target(
            {"case_pk": case.pk},
            lambda: {"party_summary": "A key handling weakness"},
            fields_of(case, "party_summary"),
            becomes(party_summary="A key handling weakness"),
        )

    return build


def t_party_summary_approve(state):
    def build(s):
        case = s.assessment()
        if state == "written":
            record.case_party_summary_write(
                actor=s.p["secretariat"], case=case, party_summary="A key handling weakness"
            )
        return Target(
            {"case_pk": case.pk},
            lambda: {
                "party_summary_sha256": record.party_summary_sha256(Case.objects.get(pk=case.pk))
            },
            lambda ctx: {
                "approved": Case.objects.get(pk=case.pk).party_summary_approved_at is not None
            },
            becomes(approved=True),
        )

    return build


# --- ballots -------------------------------------------------------------------------------------


def t_ballot_open(state):
    def build(s):
        extra = {}
        if state == "assessment":
            case = s.assessment()
        elif state == "assessment, chair conflicted, acting chair":
            case = s.assessment(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        elif state == "opened":
            case = s.case()
        else:
            case, _ballot = s.voting()
        ballots = Ballot.objects.filter(case=case)
        return Target(
            {"case_pk": case.pk},
            lambda: {"closes_at": closes_at(), "majority": Ballot.Majority.TWO_THIRDS},
            both(
                case_state(case),
                counted(ballots=ballots, two_thirds=ballots.filter(majority="two_thirds")),
            ),
            # The ballot opens with the majority the chair chose.
            lambda before: {
                **before,
                "state": "voting",
                "ballots": before["ballots"] + 1,
                "two_thirds": before["two_thirds"] + 1,
            },
            extra_roles=extra,
        )

    return build


def ballot_state(ballot):
    return both(
        fields_of(ballot, "state", "result"),
        lambda ctx: {
            "votes": sorted(
                Vote.objects.filter(ballot=ballot).values_list("member__username", "choice")
            ),
            "case_state": Case.objects.get(pk=ballot.case_id).state,
        },
    )


def t_vote(state):
    def build(s):
        extra = {}
        if state == "open":
            case, ballot = s.voting()
        elif state == "open, chair conflicted, acting chair":
            case, ballot = s.voting(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        else:  # closed: the case is decided
            case, ballot = s.voted()
            services.ballot_close(actor=s.chair_of(case), ballot=ballot)

        def effect(before):
            return {"votes": "changed"}

        return Target(
            {"ballot_pk": ballot.pk},
            lambda: {"choice": "suspend", "no_conflict": "on"},
            ballot_state(ballot),
            effect,
            extra_roles=extra,
        )

    return build


def t_ballot_close(state):
    def build(s):
        extra = {}
        if state == "open, quorum reached":
            case, ballot = s.voted()
        elif state == "open, chair conflicted, acting chair":
            case, ballot = s.voted(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        else:
            case, ballot = s.voted()
            services.ballot_close(actor=s.chair_of(case), ballot=ballot)
        return Target(
            {"ballot_pk": ballot.pk},
            dict,
            ballot_state(ballot),
            lambda before: {
                **before,
                "state": "closed",
                "result": "remedial_plan",
                "case_state": "decided",
            },
            extra_roles=extra,
        )

    return build


def t_casting_vote(state):
    def build(s):
        extra = {}
        if state == "tied":
            case, ballot = s.tied()
        elif state == "tied, chair conflicted, acting chair":
            case, ballot = s.tied(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        else:
            case, ballot = s.voting()
        return Target(
            {"ballot_pk": ballot.pk},
            lambda: {"choice": "suspend"},
            ballot_state(ballot),
            lambda before: {
                **before,
                "state": "closed",
                "result": "suspend",
                "case_state": "decided",
            },
            extra_roles=extra,
        )

    return build


def t_decision_issue(state):
    def build(s):
        extra = {}
        if state == "decided":
            case = s.decided()
        elif state == "decided, chair conflicted, acting chair":
            case = s.decided(acting_chair=True)
            extra = {"acting_chair": s.p["member2"]}
        elif state == "decided, chair conflicted, no acting chair yet":
            case = s.decided_while_chair_conflicted()
        else:
            case = s.issued()
        return Target(
            {"case_pk": case.pk},
            lambda: {
                "reasons": "Proportionate",
                "security_factors": "Local access",
                "operational_impact": "Large",
                "party_summary": "Proportionate",
                "no_devices_reason": "The uncovered models have no devices (test data).",
            },
            both(
                case_state(case),
                lambda ctx: {
                    "issued": DecisionRecord.objects.filter(
                        case=case, issued_at__isnull=False
                    ).exists()
                },
            ),
            lambda before: {**before, "state": "remediation", "issued": True},
            extra_roles=extra,
        )

    return build


def t_characteristics(s):
    return Target(
        {},
        lambda: {
            "device_type": "ESME",
            "version_label": "9.9",
            "effective_date": TODAY.isoformat(),
            "ncsc_reference": "NCSC-CPA-ESME-9.9",
            "file": pdf(),
        },
        counted(documents=SecurityCharacteristics.objects.all()),
        grows("documents"),
    )


# --- remedial plans ------------------------------------------------------------------------------

MILESTONES = {
    "milestones-TOTAL_FORMS": "1",
    "milestones-INITIAL_FORMS": "0",
    "milestones-MIN_NUM_FORMS": "1",
    "milestones-MAX_NUM_FORMS": "50",
    "milestones-0-description": "Firmware rollout",
    "milestones-0-target_date": (TODAY + datetime.timedelta(days=60)).isoformat(),
    "milestones-0-devices_covered": "1200",
}


def plan_state(requirement):
    return lambda ctx: {
        "state": PlanRequirement.objects.get(pk=requirement.pk).state,
        "versions": sorted(requirement.plans.values_list("version", "review")),
    }


def t_plan(action, state):
    def build(s):
        requirement = s.requirement(state)
        latest = requirement.plans.order_by("-version").values_list("version", flat=True).first()
        if action in ("submit", "revise"):
            target = "resubmitted" if state == "not_approved" else "submitted"

            def data():
                return {"action": action, "summary": "Revised", "file": pdf(), **MILESTONES}

            def effect(before):
                versions = before["versions"] + [((latest or 0) + 1, "")]
                return {"state": target, "versions": versions}

        elif action.startswith("review"):
            # The reviewer read version 1; in the "revised" state version 2 came in since.
            read = 1 if state == "revised" else latest

            def data():
                return {
                    "action": "review",
                    "version": str(read),
                    "decision": "approve",
                    "comments": "Proportionate",
                }

            def effect(before):
                versions = [(v, "approved" if v == read else r) for v, r in before["versions"]]
                return {"state": "approved", "versions": versions}

        else:

            def data():
                return {"action": "complete"}

            effect = becomes(state="completed")
        return Target({"pk": requirement.pk}, data, plan_state(requirement), effect)

    return build


def t_policy(s):
    return Target(
        {},
        lambda: {"review_date": (TODAY + datetime.timedelta(days=365)).isoformat(), "file": pdf()},
        counted(policies=SupplierPolicy.objects.all()),
        grows("policies"),
    )


# --- referrals -----------------------------------------------------------------------------------


def t_referral_lodge(state):
    def build(s):
        if state == "assessment (nothing issued)":
            case = s.assessment()
            data = {"kind": "not_remove", "grounds": "Disproportionate"}
        elif state == "remediation, within the window":
            case = s.issued()
            data = {"kind": "not_remove", "grounds": "Disproportionate"}
        else:  # supplier A's plan not approved: only supplier A may refer that review
            requirement = s.requirement("not_approved")
            case = requirement.case
            data = {
                "kind": "plan_not_approved",
                "plan_requirement": str(requirement.pk),
                "grounds": "The plan is proportionate",
            }
        return Target(
            {"case_pk": case.pk},
            lambda: dict(data),
            counted(referrals=Referral.objects.filter(case=case)),
            grows("referrals"),
        )

    return build


REFERRAL_POSTS = {
    "send_pack": lambda: {"action": "send_pack"},
    "request_information": lambda: {
        "action": "request_information",
        "text": "The votes, please",
        "due_date": (TODAY + datetime.timedelta(days=5)).isoformat(),
    },
    "respond": lambda: {"action": "respond", "response": "Here they are"},
    "determine": lambda: {
        "action": "determine",
        "outcome": "upheld",
        "reasons": "Stands",
        "effective_date": TODAY.isoformat(),
    },
    "close": lambda: {"action": "close"},
}
REFERRAL_TARGETS = {
    "send_pack": "pack_sent",
    "request_information": "information_requested",
    "respond": "information_provided",
    "determine": "determined",
    "close": "closed",
}


def t_referral(action, state):
    def build(s):
        referral = s.referral(state)
        return Target(
            {"pk": referral.pk},
            REFERRAL_POSTS[action],
            fields_of(referral, "state"),
            becomes(state=REFERRAL_TARGETS[action]),
        )

    return build


# --- the table -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    url: str
    state: str
    build: Callable[[Story], Target]
    expected: dict

    @property
    def id(self):
        return f"{self.url} [{self.state}]"


CHAIR_ONLY = dict(chair=DONE)
SECRETARIAT_OR_CHAIR = dict(secretariat=DONE, chair=DONE)
REGISTER_KEEPER = everyone(FORBIDDEN, secretariat=DONE)

SCENARIOS = [
    # --- accounts. Signing in, out and the second factor are open to every role. ---
    Scenario("login", "signed out; valid credentials", t_login, everyone(NOOP, anonymous=DONE)),
    # Signing out sends everyone to the sign-in page; only a signed-in user has a session to end.
    Scenario("logout", "signed in", t_logout, everyone(DONE)),
    Scenario("mfa-verify", "password given, code pending", t_mfa_verify, everyone(DONE)),
    Scenario("mfa-setup", "no authenticator yet", t_mfa_setup_new, everyone(DONE)),
    Scenario("mfa-setup", "authenticator enrolled", t_mfa_setup_enrolled, everyone(NOOP)),
    Scenario("password_change", "signed in", t_password_change, everyone(DONE)),
    # A notice delivered to supplier A: only its recipient acknowledges it; others are not told
    # it exists.
    Scenario(
        "inbox-detail",
        "delivered, unacknowledged",
        t_inbox_acknowledge,
        everyone(NOT_FOUND, supplier_a=DONE),
    ),
    # Django admin: verified superusers only; every role is refused outright.
    Scenario("admin:portal_user_add", "any", t_admin_user_add, everyone(FORBIDDEN)),
    # --- the CPL register: the secretariat keeps it. ---
    Scenario(
        "cpl:certificate", "valid CPA certificate", t_certificate_event("valid"), REGISTER_KEEPER
    ),
    Scenario(
        "cpl:certificate",
        "withdrawn CPA certificate",
        t_certificate_event("withdrawn"),
        everyone(FORBIDDEN, secretariat=NOT_NOW),
    ),
    Scenario("cpl:certificate-add", "listed model", t_certificate_add("listed"), REGISTER_KEEPER),
    Scenario(
        "cpl:certificate-add",
        "model removed for a lapsed ZigBee certificate",
        t_certificate_add("removed"),
        REGISTER_KEEPER,
    ),
    # Re-listing is the secretariat's deliberate act, on a removed model whose certificates are
    # all valid again; nothing else re-lists (a renewed certificate alone does not).
    Scenario(
        "cpl:relist",
        "removed, certificates renewed",
        t_relist("removed, certificates renewed"),
        REGISTER_KEEPER,
    ),
    Scenario(
        "cpl:relist",
        "removed, a certificate still lapsed",
        t_relist("removed, a certificate still lapsed"),
        everyone(FORBIDDEN, secretariat=NOT_NOW),
    ),
    Scenario("cpl:relist", "listed", t_relist("listed"), everyone(FORBIDDEN, secretariat=NOT_NOW)),
    Scenario("cpl:import", "any", t_cpl_import, REGISTER_KEEPER),
    Scenario("cpl:combination-import", "any", t_combination_import, REGISTER_KEEPER),
    # Emergency CPL entries: supplier users request; the secretariat decides. Supplier A's request
    # is hidden from other suppliers (404); roles that never see requests are refused (403).
    Scenario(
        "cpl:emergency-submit",
        "any",
        t_emergency_submit,
        everyone(FORBIDDEN, supplier_a=DONE, supplier_b=DONE),
    ),
    Scenario(
        "cpl:emergency-action",
        "submitted",
        t_emergency_accept,
        everyone(
            FORBIDDEN,
            supplier_b=NOT_FOUND,
            invited_expert=FORBIDDEN,
            secretariat=DONE,
        ),
    ),
    Scenario(
        "cpl:version-publish", "register changed", t_version_publish("changed"), REGISTER_KEEPER
    ),
    # Nothing to publish: back to the list with the reason, nothing written.
    Scenario(
        "cpl:version-publish",
        "unchanged since the last version",
        t_version_publish("unchanged since the last version"),
        everyone(FORBIDDEN, secretariat=NOOP),
    ),
    Scenario("cpl:inventory", "any", t_inventory, REGISTER_KEEPER),
    # --- cases ---
    Scenario(
        "governance:case-open", "expired CPA certificate", t_case_open("expired"), REGISTER_KEEPER
    ),
    # A case opens only once the CPA certificate has expired or been withdrawn (the certificate
    # policy's `open_case`): the secretariat may, but not now.
    Scenario(
        "governance:case-open",
        "valid CPA certificate",
        t_case_open("valid CPA certificate"),
        everyone(FORBIDDEN, secretariat=NOT_NOW),
    ),
    Scenario(
        "governance:case-action",
        "start_assessment: opened",
        t_case_action("start_assessment", "opened"),
        table(OPENED_CASE_READERS, **SECRETARIAT_OR_CHAIR),
    ),
    Scenario(
        "governance:case-action",
        "start_assessment: opened, chair conflicted, acting chair",
        t_case_action("start_assessment", "opened, chair conflicted, acting chair"),
        table(OPENED_CASE_READERS, secretariat=DONE, acting_chair=DONE),
    ),
    Scenario(
        "governance:case-action",
        "start_assessment: assessment",
        t_case_action("start_assessment", "assessment"),
        table(CASE_READERS, secretariat=NOT_NOW, chair=NOT_NOW),
    ),
    # Who may never close a case is told so (403), whatever the case's state.
    Scenario(
        "governance:case-action",
        "close: assessment",
        t_case_action("close", "assessment"),
        table(CASE_READERS, secretariat=NOT_NOW, chair=NOT_NOW),
    ),
    Scenario(
        "governance:case-action",
        "close: remediation, plan notified",
        t_case_action("close", "remediation, plan notified"),
        table(DECIDED_CASE_READERS, secretariat=NOT_NOW, chair=NOT_NOW),
    ),
    Scenario(
        "governance:case-action",
        "close: remediation, plan completed, window passed",
        t_case_action("close", "remediation, plan completed, window passed"),
        table(DECIDED_CASE_READERS, **SECRETARIAT_OR_CHAIR),
    ),
    Scenario(
        "governance:evidence-upload",
        "assessment",
        t_evidence_upload("assessment"),
        table(CASE_READERS, secretariat=DONE),
    ),
    Scenario(
        "governance:evidence-upload",
        "closed",
        t_evidence_upload("closed"),
        table(DECIDED_CASE_READERS, secretariat=NOT_NOW),
    ),
    # A named document: who was not named does not learn it exists.
    Scenario(
        "governance:evidence-grant",
        "named-recipients document",
        t_evidence_grant("named-recipients"),
        table(("secretariat",), DONE),
    ),
    # A `parties` document is granted by its classification's rule, never to individuals.
    Scenario(
        "governance:evidence-grant",
        "parties document",
        t_evidence_grant("parties"),
        table(("secretariat", "chair", "member", "conflicted_member", "supplier_a", "dcc")),
    ),
    Scenario(
        "governance:conflict",
        "assessment",
        t_conflict("assessment"),
        table(CASE_READERS, chair=DONE, member=DONE, conflicted_member=DONE),
    ),
    # A conflict declared on a case stands once a ballot has opened on it (the form is not
    # offered: 409); the others may still declare (none).
    Scenario(
        "governance:conflict",
        "voting, withdrawing a conflict",
        t_conflict("voting, withdrawing a conflict"),
        table(CASE_READERS, chair=DONE, member=DONE, conflicted_member=NOT_NOW),
    ),
    # Conflicts are declared for the whole life of a case (issue 11): after the decision too.
    Scenario(
        "governance:conflict",
        "decided",
        t_conflict("decided"),
        table(CASE_READERS, chair=DONE, member=DONE, conflicted_member=DONE),
    ),
    Scenario(
        "governance:acting-chair",
        "assessment, chair conflicted",
        t_acting_chair("assessment, chair conflicted"),
        table(CASE_READERS, secretariat=DONE),
    ),
    Scenario(
        "governance:acting-chair",
        "assessment, chair not conflicted",
        t_acting_chair("assessment, chair not conflicted"),
        table(CASE_READERS, secretariat=NOT_NOW),
    ),
    # The acting chair issued the decision: no acting chair is needed any more. Who may never
    # designate one is told so (403).
    Scenario(
        "governance:acting-chair",
        "remediation, chair conflicted, acting chair",
        t_acting_chair("remediation"),
        table(DECIDED_CASE_READERS, secretariat=NOT_NOW),
    ),
    Scenario(
        "governance:expert-invite",
        "assessment",
        t_expert_invite("assessment"),
        table(CASE_READERS, **SECRETARIAT_OR_CHAIR),
    ),
    Scenario(
        "governance:expert-invite",
        "assessment, chair conflicted, acting chair",
        t_expert_invite("assessment, chair conflicted, acting chair"),
        table(CASE_READERS, secretariat=DONE, acting_chair=DONE),
    ),
    Scenario(
        "governance:expert-invite",
        "remediation",
        t_expert_invite("remediation"),
        table(DECIDED_CASE_READERS, secretariat=NOT_NOW, chair=NOT_NOW),
    ),
    Scenario(
        "governance:comment",
        "assessment",
        t_comment,
        # Comments are the SSC's deliberation: not for a conflicted member (issue 11).
        table(CASE_READERS, DONE, supplier_a=FORBIDDEN, dcc=FORBIDDEN, conflicted_member=FORBIDDEN),
    ),
    # --- the record: representations, recommendations, the summary for Parties ---
    Scenario(
        "governance:representation-submit",
        "assessment",
        t_representation("assessment"),
        table(CASE_READERS, supplier_a=DONE, dcc=DONE),
    ),
    Scenario(
        "governance:representation-submit",
        "voting",
        t_representation("voting"),
        table(CASE_READERS, supplier_a=NOT_NOW, dcc=NOT_NOW),
    ),
    Scenario(
        "governance:recommendation",
        "assessment",
        t_recommendation("assessment"),
        table(CASE_READERS, secretariat=DONE, invited_expert=DONE),
    ),
    Scenario(
        "governance:recommendation",
        "voting",
        t_recommendation("voting"),
        table(CASE_READERS, secretariat=NOT_NOW, invited_expert=NOT_NOW),
    ),
    Scenario(
        "governance:party-summary",
        "assessment",
        t_party_summary("assessment"),
        table(CASE_READERS, secretariat=DONE),
    ),
    Scenario(
        "governance:party-summary",
        "closed",
        t_party_summary("closed"),
        table(DECIDED_CASE_READERS, secretariat=NOT_NOW),
    ),
    Scenario(
        "governance:party-summary-approve",
        "written",
        t_party_summary_approve("written"),
        table(CASE_READERS, chair=DONE),
    ),
    Scenario(
        "governance:party-summary-approve",
        "none written",
        t_party_summary_approve("none written"),
        table(CASE_READERS, chair=NOT_NOW),
    ),
    # --- ballots ---
    Scenario(
        "governance:ballot-open",
        "assessment",
        t_ballot_open("assessment"),
        table(CASE_READERS, **CHAIR_ONLY),
    ),
    Scenario(
        "governance:ballot-open",
        "assessment, chair conflicted, acting chair",
        t_ballot_open("assessment, chair conflicted, acting chair"),
        table(CASE_READERS, acting_chair=DONE),
    ),
    Scenario(
        "governance:ballot-open",
        "opened",
        t_ballot_open("opened"),
        table(OPENED_CASE_READERS, chair=NOT_NOW),
    ),
    Scenario(
        "governance:ballot-open",
        "voting",
        t_ballot_open("voting"),
        table(CASE_READERS, chair=NOT_NOW),
    ),
    # Ballots are the SSC's business: nobody else learns they exist, nor does a member
    # conflicted on the case (issue 11: a conflicted member sees what a Party would).
    Scenario("governance:vote", "open", t_vote("open"), table(BALLOT_READERS, member=DONE)),
    Scenario(
        "governance:vote",
        "open, chair conflicted, acting chair",
        t_vote("open, chair conflicted, acting chair"),
        table(BALLOT_READERS, member=DONE, acting_chair=FORBIDDEN, chair=NOT_FOUND),
    ),
    Scenario("governance:vote", "closed", t_vote("closed"), table(BALLOT_READERS, member=NOT_NOW)),
    Scenario(
        "governance:ballot-close",
        "open, quorum reached",
        t_ballot_close("open, quorum reached"),
        table(BALLOT_READERS, **CHAIR_ONLY),
    ),
    Scenario(
        "governance:ballot-close",
        "open, chair conflicted, acting chair",
        t_ballot_close("open, chair conflicted, acting chair"),
        table(BALLOT_READERS, acting_chair=DONE, chair=NOT_FOUND),
    ),
    Scenario(
        "governance:ballot-close",
        "closed",
        t_ballot_close("closed"),
        table(BALLOT_READERS, chair=NOT_NOW),
    ),
    Scenario(
        "governance:casting-vote",
        "tied",
        t_casting_vote("tied"),
        table(BALLOT_READERS, **CHAIR_ONLY),
    ),
    Scenario(
        "governance:casting-vote",
        "tied, chair conflicted, acting chair",
        t_casting_vote("tied, chair conflicted, acting chair"),
        table(BALLOT_READERS, acting_chair=DONE, chair=NOT_FOUND),
    ),
    Scenario(
        "governance:casting-vote",
        "open",
        t_casting_vote("open"),
        table(BALLOT_READERS, chair=NOT_NOW),
    ),
    Scenario(
        "governance:decision-issue",
        "decided",
        t_decision_issue("decided"),
        table(CASE_READERS, **CHAIR_ONLY),
    ),
    Scenario(
        "governance:decision-issue",
        "decided, chair conflicted, acting chair",
        t_decision_issue("decided, chair conflicted, acting chair"),
        table(CASE_READERS, acting_chair=DONE),
    ),
    Scenario(
        "governance:decision-issue",
        "decided, chair conflicted, no acting chair yet",
        t_decision_issue("decided, chair conflicted, no acting chair yet"),
        table(CASE_READERS),
    ),
    Scenario(
        "governance:decision-issue",
        "issued (remediation)",
        t_decision_issue("issued"),
        table(DECIDED_CASE_READERS, chair=NOT_NOW),
    ),
    Scenario("governance:characteristics", "any", t_characteristics, REGISTER_KEEPER),
    # --- remedial plans: supplier A's. Supplier B is not told the plan exists. ---
    Scenario(
        "governance:plan",
        "submit: notified",
        t_plan("submit", "notified"),
        table(PLAN_READERS, supplier_a=DONE),
    ),
    Scenario(
        "governance:plan",
        "submit: submitted (waiting for review: revised instead)",
        t_plan("submit", "submitted"),
        table(PLAN_READERS, supplier_a=NOT_NOW),
    ),
    Scenario(
        "governance:plan",
        "revise: submitted (a revision before review)",
        t_plan("revise", "submitted"),
        table(PLAN_READERS, supplier_a=DONE),
    ),
    Scenario(
        "governance:plan",
        "revise: notified (nothing submitted to revise)",
        t_plan("revise", "notified"),
        table(PLAN_READERS, supplier_a=NOT_NOW),
    ),
    Scenario(
        "governance:plan",
        "revise: not approved (a new plan is submitted)",
        t_plan("revise", "not_approved"),
        table(PLAN_READERS, supplier_a=NOT_NOW),
    ),
    Scenario(
        "governance:plan",
        "submit: not approved",
        t_plan("submit", "not_approved"),
        table(PLAN_READERS, supplier_a=DONE),
    ),
    Scenario(
        "governance:plan",
        "submit: approved",
        t_plan("submit", "approved"),
        table(PLAN_READERS, supplier_a=NOT_NOW),
    ),
    Scenario(
        "governance:plan",
        "review: submitted",
        t_plan("review", "submitted"),
        table(PLAN_READERS, chair=DONE, member=DONE),
    ),
    # Version 2 came in after the reviewer opened version 1: the review fails, it does not move
    # over to the version nobody read.
    Scenario(
        "governance:plan",
        "review: version 2 submitted after the reviewer read version 1",
        t_plan("review", "revised"),
        table(PLAN_READERS, chair=NOT_NOW, member=NOT_NOW),
    ),
    Scenario(
        "governance:plan",
        "review: approved",
        t_plan("review", "approved"),
        table(PLAN_READERS, chair=NOT_NOW, member=NOT_NOW),
    ),
    Scenario(
        "governance:plan",
        "complete: approved",
        t_plan("complete", "approved"),
        table(PLAN_READERS, chair=DONE, member=DONE),
    ),
    Scenario(
        "governance:plan",
        "complete: submitted",
        t_plan("complete", "submitted"),
        table(PLAN_READERS, chair=NOT_NOW, member=NOT_NOW),
    ),
    # SEC G8.64: Supplier Parties record their own policy.
    Scenario(
        "governance:policy", "any", t_policy, everyone(FORBIDDEN, supplier_a=DONE, supplier_b=DONE)
    ),
    # --- referrals (SEC F2.7B) ---
    # Parties the decision is addressed to refer it; the SSC and experts are not Parties.
    Scenario(
        "governance:referral-lodge",
        "assessment (nothing issued)",
        t_referral_lodge("assessment (nothing issued)"),
        table(CASE_READERS, supplier_a=NOT_NOW, dcc=NOT_NOW),
    ),
    Scenario(
        "governance:referral-lodge",
        "remediation, within the window",
        t_referral_lodge("remediation, within the window"),
        table(DECIDED_CASE_READERS, supplier_a=DONE, dcc=DONE),
    ),
    # Supplier A's plan was not approved: the DCC may not refer supplier A's plan review (the
    # form does not offer it).
    Scenario(
        "governance:referral-lodge",
        "plan not approved: refer the plan review",
        t_referral_lodge("plan not approved"),
        table(DECIDED_CASE_READERS, supplier_a=DONE, dcc=INVALID),
    ),
    # The Authority reads a referral from the moment it is lodged; sending the pack is the
    # secretariat's alone (403), and the Authority asks for information once it has it (409).
    Scenario(
        "governance:referral",
        "send_pack: lodged",
        t_referral("send_pack", "lodged"),
        table(REFERRAL_READERS, secretariat=DONE),
    ),
    Scenario(
        "governance:referral",
        "send_pack: pack sent",
        t_referral("send_pack", "pack_sent"),
        table(REFERRAL_READERS, secretariat=NOT_NOW),
    ),
    Scenario(
        "governance:referral",
        "request_information: pack sent",
        t_referral("request_information", "pack_sent"),
        table(REFERRAL_READERS, authority=DONE),
    ),
    Scenario(
        "governance:referral",
        "request_information: information provided",
        t_referral("request_information", "information_provided"),
        table(REFERRAL_READERS, authority=DONE),
    ),
    Scenario(
        "governance:referral",
        "request_information: lodged",
        t_referral("request_information", "lodged"),
        table(REFERRAL_READERS, authority=NOT_NOW),  # the pack is not sent yet
    ),
    Scenario(
        "governance:referral",
        "respond: information requested",
        t_referral("respond", "information_requested"),
        table(REFERRAL_READERS, **SECRETARIAT_OR_CHAIR),
    ),
    Scenario(
        "governance:referral",
        "respond: pack sent",
        t_referral("respond", "pack_sent"),
        table(REFERRAL_READERS, secretariat=NOT_NOW, chair=NOT_NOW),
    ),
    Scenario(
        "governance:referral",
        "determine: pack sent",
        t_referral("determine", "pack_sent"),
        table(REFERRAL_READERS, authority=DONE),
    ),
    Scenario(
        "governance:referral",
        "determine: information requested",
        t_referral("determine", "information_requested"),
        table(REFERRAL_READERS, authority=NOT_NOW),
    ),
    Scenario(
        "governance:referral",
        "close: determined",
        t_referral("close", "determined"),
        table(REFERRAL_READERS, secretariat=DONE),
    ),
    Scenario(
        "governance:referral",
        "close: pack sent",
        t_referral("close", "pack_sent"),
        table(REFERRAL_READERS, secretariat=NOT_NOW),
    ),
]


# --- running the table ---------------------------------------------------------------------------


def accepts_post(pattern) -> bool:
    view_class = getattr(pattern.callback, "view_class", None)
    if view_class is None:
        return True  # a function view (the admin's): it may take POST
    return "post" in view_class.http_method_names and hasattr(view_class, "post")


def post_url_names() -> list[str]:
    return sorted({name for name, pattern in iter_url_names() if accepts_post(pattern)})


def covered(name: str) -> bool:
    if name.startswith("admin:"):
        return any(s.url.startswith("admin:") for s in SCENARIOS)  # refused outright, as one
    return any(s.url == name for s in SCENARIOS)


def test_every_state_changing_url_has_rows():
    names = post_url_names()
    missing = [name for name in names if not covered(name)]
    assert not missing, f"URLs that accept POST with no row in the POST access matrix: {missing}"
    stale = {s.url for s in SCENARIOS} - set(names)
    assert not stale, f"Rows for URLs that no longer accept POST: {stale}"
    assert len(names) > 20


def test_rows_name_every_role_once():
    for scenario in SCENARIOS:
        assert set(ROLES) <= set(scenario.expected), scenario.id
        assert set(scenario.expected) - set(ROLES) <= {"acting_chair"}, scenario.id
        assert set(scenario.expected.values()) <= REFUSALS | {DONE}, scenario.id
    ids = [s.id for s in SCENARIOS]
    assert len(ids) == len(set(ids))


def sign_in_as(client, user, how: str) -> None:
    client.logout()
    if user is None:
        return
    if how == "fully":
        sign_in(client, user)
    else:
        client.force_login(user)


def changed_as_intended(want: dict, before: dict, after: dict) -> bool:
    for key, value in want.items():
        if value == "changed":
            if after[key] == before[key]:
                return False
        elif after[key] != value:
            return False
    return True


def judge(response, before, after, new_events, target) -> str:
    """The outcome in the table's words, or a description of what went wrong."""
    status = response.status_code
    if status >= 500:
        error = response.exc_info[1] if getattr(response, "exc_info", None) else ""
        return f"500 ({type(error).__name__}: {error})"
    answered = 200 <= status < 400
    to_login = status == 302 and urlparse(response["Location"]).path == reverse("login")
    changed = after != before
    if not changed and not new_events:
        if to_login:
            return LOGIN
        return NOOP if answered else status
    if answered and changed_as_intended(target.effect(before), before, after):
        if new_events or not target.audited:
            return DONE
        return f"{status}, changed {before} → {after} without an audit event"
    return f"{status}, yet changed {before} → {after} ({new_events} audit events)"


def run(scenario: Scenario, client, story: Story) -> list[str]:
    target = scenario.build(story)
    people = {**story.p, **target.extra_roles}
    assert set(scenario.expected) == set(ROLES) | set(target.extra_roles), scenario.id
    url = reverse(scenario.url, kwargs=target.kwargs)
    client.raise_request_exception = False
    failures = []
    for role, want in scenario.expected.items():
        user = None if role == "anonymous" else people[role]
        with transaction.atomic():
            if user is not None and target.prepare:
                target.prepare(user)
            sign_in_as(client, user, target.signed_in)
            ctx = SimpleNamespace(user=user, client=client)
            before, events = target.probe(ctx), AuditEvent.objects.count()
            response = client.post(url, {**target.data(), "confirmed": "yes"})
            after, new_events = target.probe(ctx), AuditEvent.objects.count() - events
            got = judge(response, before, after, new_events, target)
            transaction.set_rollback(True)  # the next role POSTs against the same state
        if got != want:
            failures.append(f"{role:18} expected {want}, got {got}")
    client.logout()
    return failures


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_post(scenario, client, people):
    failures = run(scenario, client, Story(people))
    assert not failures, f"POST {scenario.id}:\n" + "\n".join(failures)


def test_the_judge_catches_a_refusal_that_changed_something():
    """The table's refusals mean something only if a change behind a refusal is caught."""
    target = Target({}, dict, lambda ctx: {}, becomes(state="b"))
    refused, moved = HttpResponse(status=403), HttpResponseRedirect("/cases/1/")
    assert judge(refused, {"state": "a"}, {"state": "a"}, 0, target) == FORBIDDEN
    assert judge(refused, {"state": "a"}, {"state": "b"}, 1, target) != FORBIDDEN
    assert judge(refused, {"state": "a"}, {"state": "a"}, 1, target) != FORBIDDEN  # audit only
    assert judge(moved, {"state": "a"}, {"state": "b"}, 1, target) == DONE
    assert judge(moved, {"state": "a"}, {"state": "b"}, 0, target) != DONE  # not audited
    assert judge(moved, {"state": "a"}, {"state": "c"}, 1, target) != DONE  # not as intended
    assert judge(moved, {"state": "a"}, {"state": "a"}, 0, target) == NOOP
