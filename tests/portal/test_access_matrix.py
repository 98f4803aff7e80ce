"""Every URL of the project × every role → the one expected outcome, from a single table.

A URL pattern with no row here fails the test: no view ships without a decision on who may
use it. Later issues add their URLs (and object-level rows) to EXPECTED.
"""

import datetime

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from cpl.models import AssuranceCertificate, CPLImport, DeviceModel
from cpl.services import cpl_version_publish

from ..helpers import cpa_case, import_sample, pdf_upload, sign_in

ROLES = [
    "anonymous",
    "secretariat",
    "chair",
    "member",
    "expert",
    "supplier_a",
    "supplier_b",
    "dcc",
    "network",
    "authority",
]
OK, FORBIDDEN, NOT_FOUND, NOT_ALLOWED, NOT_NOW = 200, 403, 404, 405, 409
LOGIN = "login"  # redirect to the sign-in page
REDIRECT = "redirect"  # redirect elsewhere


def row(default, **overrides):
    assert set(overrides) <= set(ROLES), overrides
    return {role: overrides.get(role, default) for role in ROLES}


SIGNED_IN = row(OK, anonymous=LOGIN)
REGISTER_READERS = row(OK, anonymous=LOGIN, expert=FORBIDDEN, authority=FORBIDDEN)
SECRETARIAT_ONLY = row(FORBIDDEN, anonymous=LOGIN, secretariat=OK)

POST_ONLY = row(NOT_ALLOWED, anonymous=LOGIN)
PLAN_READERS = row(
    FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK, supplier_a=OK, supplier_b=OK
)
# Whoever may not see a plan is not told it exists.
PLAN_HIDDEN = {role: 404 for role in ("expert", "dcc", "network", "authority")}
# The DCC is addressed from the assessment on, as every decision is (SEC F2.7B).
CASE_READERS = row(
    NOT_FOUND, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK, supplier_a=OK, dcc=OK
)


def case_row(visible_default, **overrides):
    """Roles that can see the case get `visible_default` unless overridden; others 404."""
    readers = ("secretariat", "chair", "member", "supplier_a", "dcc")
    base = {role: visible_default for role in readers}
    return row(NOT_FOUND, anonymous=LOGIN, **{**base, **overrides})


EXPECTED = {
    "dashboard": SIGNED_IN,
    # Load balancer probes: open to all, no second factor.
    "healthz": row(OK),
    "readyz": row(OK),
    # The portal's public signing key: open to all (the Authority checks packs against it).
    "signing-key": row(OK),
    "signing-key-pem": row(OK),
    "login": row(REDIRECT, anonymous=OK),
    "logout": SIGNED_IN,  # a GET asks to confirm; only the POST signs out
    "mfa-verify": SIGNED_IN,
    "mfa-setup": row(REDIRECT, anonymous=LOGIN),  # enrolled already: on to the code page
    "password_change": SIGNED_IN,
    "password_change_done": SIGNED_IN,
    "audit-log": row(FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK),
    "cpl:register": REGISTER_READERS,
    "cpl:device-model": REGISTER_READERS,
    "cpl:certificate": REGISTER_READERS,
    "cpl:certificate-add": SECRETARIAT_ONLY,
    "cpl:import": SECRETARIAT_ONLY,
    "cpl:import-detail": SECRETARIAT_ONLY,
    "cpl:export": REGISTER_READERS,
    "cpl:version-list": REGISTER_READERS,
    "cpl:version-publish": row(FORBIDDEN, anonymous=LOGIN, secretariat=NOT_ALLOWED),  # POST only
    "cpl:version-detail": REGISTER_READERS,
    "cpl:version-download": REGISTER_READERS,
    # CPL change notices: the SSC and the DCC, not other Parties.
    "cpl:change-list": row(FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK, dcc=OK),
    # Re-listing is the secretariat's; the fixture's model is listed: nothing to re-list (409).
    "cpl:relist": row(FORBIDDEN, anonymous=LOGIN, secretariat=NOT_NOW),
    # The removed-entries register: whoever reads the CPL.
    "cpl:removed-list": REGISTER_READERS,
    # SMETS1 product combinations: whoever reads the CPL; the secretariat imports.
    "cpl:combination-list": REGISTER_READERS,
    "cpl:combination": REGISTER_READERS,
    "cpl:combination-export": REGISTER_READERS,
    "cpl:combination-import": SECRETARIAT_ONLY,
    "cpl:combination-eligibility": REGISTER_READERS,
    # Asked nothing: a 400 that says what to ask.
    "cpl:combination-eligibility-json": row(
        400, anonymous=LOGIN, expert=FORBIDDEN, authority=FORBIDDEN
    ),
    # Emergency CPL entries (supplier A's request): the SSC and the DCC see all; the requester's
    # organisation its own; another supplier is not told it exists.
    "cpl:emergency-list": row(
        FORBIDDEN,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        supplier_a=OK,
        supplier_b=OK,
        dcc=OK,
    ),
    "cpl:emergency-submit": row(FORBIDDEN, anonymous=LOGIN, supplier_a=OK, supplier_b=OK),
    # Roles that never see emergency requests are refused outright (403).
    "cpl:emergency": row(
        NOT_FOUND,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        supplier_a=OK,
        dcc=OK,
        **dict.fromkeys(("expert", "network", "authority"), FORBIDDEN),
    ),
    "cpl:emergency-action": row(
        NOT_ALLOWED, anonymous=LOGIN, **dict.fromkeys(("expert", "network", "authority"), FORBIDDEN)
    ),
    # The evidence follows the summary's `ssc-only` classification: the SSC and the requester;
    # the DCC, which sees the request, is refused its evidence.
    "cpl:emergency-evidence": row(
        NOT_FOUND,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        supplier_a=OK,
        **dict.fromkeys(("expert", "network", "authority", "dcc"), FORBIDDEN),
    ),
    # Governance. The case in the fixture is addressed to supplier A only; the expert in the
    # table is not invited. Who cannot see a case gets 404: its existence is not revealed.
    "governance:case-list": row(OK, anonymous=LOGIN, authority=FORBIDDEN),
    "governance:case-open": SECRETARIAT_ONLY,
    "governance:case": CASE_READERS,
    "governance:case-action": POST_ONLY,
    "governance:evidence-upload": case_row(FORBIDDEN, secretariat=OK),
    "governance:evidence-download": CASE_READERS,  # a `parties` document
    # A named document: who was not named does not learn it exists.
    "governance:evidence-grant": case_row(NOT_FOUND, secretariat=OK),
    "governance:conflict": case_row(FORBIDDEN, chair=OK, member=OK),
    # The fixture's case is in voting: representations and recommendations were due before the
    # ballot (409 for the Party and the secretariat).
    "governance:representation-submit": case_row(FORBIDDEN, supplier_a=NOT_NOW, dcc=NOT_NOW),
    # Supplier A's `ssc-only` representation: the SSC and supplier A, who made it.
    "governance:representation-download": {**CASE_READERS, "dcc": NOT_FOUND},
    "governance:recommendation": case_row(FORBIDDEN, secretariat=NOT_NOW),
    "governance:party-summary": case_row(FORBIDDEN, secretariat=OK),
    "governance:party-summary-approve": POST_ONLY,
    "governance:expert-invite": case_row(FORBIDDEN, chair=OK, secretariat=OK),
    "governance:comment": POST_ONLY,
    "governance:ballot-open": POST_ONLY,
    "governance:decision-issue": case_row(FORBIDDEN, chair=NOT_NOW),  # nothing decided yet
    # The chair has no conflict on the fixture's case: no acting chair is needed.
    "governance:acting-chair": case_row(FORBIDDEN, secretariat=NOT_NOW),
    "governance:ballot": row(NOT_FOUND, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK),
    # The ballot page's poll of who has voted: whoever may see the ballot, no one else.
    "governance:ballot-voters": row(
        NOT_FOUND, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK
    ),
    "governance:vote": POST_ONLY,
    "governance:ballot-close": POST_ONLY,
    "governance:casting-vote": POST_ONLY,
    "governance:characteristics": REGISTER_READERS,
    "governance:characteristics-download": REGISTER_READERS,
    "cpl:inventory": SECRETARIAT_ONLY,
    # Remedial plans: the SSC and the supplier concerned (supplier A in the fixture); another
    # supplier is not told the plan exists.
    "governance:plan-list": PLAN_READERS,
    "governance:plan": {**PLAN_READERS, "supplier_b": NOT_FOUND, **PLAN_HIDDEN},
    "governance:plan-download": {**PLAN_READERS, "supplier_b": NOT_FOUND, **PLAN_HIDDEN},
    "governance:policy": row(
        FORBIDDEN,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        supplier_a=OK,
        supplier_b=OK,
    ),
    "governance:policy-download": row(
        NOT_FOUND, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK, supplier_a=OK
    ),  # supplier A's policy
    "inbox": SIGNED_IN,
    "inbox-detail": row(NOT_FOUND, anonymous=LOGIN, supplier_a=OK),  # A's delivery
    "notice-list": row(FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK),
    "notice": row(FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK),
    # Referrals (SEC F2.7B). The fixture's referral is supplier A's, its pack sent.
    "governance:referral-list": row(OK, anonymous=LOGIN, expert=FORBIDDEN),
    # Nothing is issued on the fixture's case yet: nothing to refer (409).
    "governance:referral-lodge": row(
        FORBIDDEN,
        anonymous=LOGIN,
        expert=NOT_FOUND,
        authority=NOT_FOUND,
        supplier_a=NOT_NOW,
        supplier_b=NOT_FOUND,
        dcc=NOT_NOW,
        network=NOT_FOUND,
    ),
    "governance:referral": row(
        NOT_FOUND,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        supplier_a=OK,
        authority=OK,
    ),
    # The grounds: whoever sees the referral.
    "governance:referral-document": row(
        NOT_FOUND,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        supplier_a=OK,
        authority=OK,
    ),
    "governance:pack-download": row(
        NOT_FOUND,
        anonymous=LOGIN,
        secretariat=OK,
        chair=OK,
        member=OK,
        authority=OK,
        supplier_a=FORBIDDEN,
    ),
    # Django admin: verified superusers only; every role is refused outright.
    "admin:*": row(FORBIDDEN, anonymous=LOGIN),
}


def iter_url_names(resolver=None, namespace=None):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace
            joined = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            yield from iter_url_names(pattern, joined)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or f"<unnamed {pattern.pattern}>"
            yield (f"{namespace}:{name}" if namespace else name), pattern


def expected_for(name):
    if name in EXPECTED:
        return EXPECTED[name]
    namespace = name.split(":")[0]
    return EXPECTED.get(f"{namespace}:*")


@pytest.fixture
def objects(users):
    from governance import services as governance

    case = cpa_case(users)
    governance.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    from governance.representations import representation_submit

    # Supplier A's views for the SSC only, made while the SSC assessed the case.
    representation = representation_submit(
        actor=users["supplier_a"],
        case=case,
        text="Removal strands 1,200 homes",
        classification="ssc-only",
        uploads=[pdf_upload()],
    )
    ballot = governance.ballot_open(
        actor=users["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=2)
    )
    parties = governance.evidence_upload(
        actor=users["secretariat"],
        case=case,
        title="Advice",
        classification="parties",
        upload=pdf_upload(),
    )
    named = governance.evidence_upload(
        actor=users["secretariat"],
        case=case,
        title="Report",
        classification="named-recipients",
        upload=pdf_upload(),
    )
    characteristics = governance.characteristics_upload(
        actor=users["secretariat"],
        device_type="ESME",
        version_label="1.2",
        effective_date=datetime.date(2026, 1, 1),
        ncsc_reference="NCSC-CPA-ESME-1.2",
        upload=pdf_upload(),
    )
    from governance import plans

    # Plans belong to a case in remediation.
    from governance.models import Case, PlanRequirement
    from portal.models import NoticeDelivery

    plan_case = cpa_case(users)
    Case.objects.filter(pk=plan_case.pk).update(state="remediation")
    plan_case = Case.objects.get(pk=plan_case.pk)
    requirement = PlanRequirement.objects.create(
        case=plan_case,
        supplier=users["supplier_a"].organisation,
        device_count=120,
        due_date=datetime.date(2027, 1, 29),
    )
    plan = plans.plan_submit(
        actor=users["supplier_a"],
        requirement=requirement,
        summary="Plan",
        upload=pdf_upload(),
        milestones=[
            {
                "description": "Firmware",
                "target_date": datetime.date(2027, 3, 1),
                "devices_covered": 120,
            }
        ],
    )
    policy = plans.policy_upload(
        actor=users["supplier_a"], review_date=datetime.date(2027, 6, 1), upload=pdf_upload()
    )
    from portal.notices import notice_send

    notice = notice_send(
        actor=users["secretariat"],
        kind="decision",
        subject="S",
        body="B",
        organisations=[users["supplier_a"].organisation],
    )
    delivery = NoticeDelivery.objects.get(notice=notice, recipient=users["supplier_a"])
    from governance.models import Referral
    from governance.referrals import referral_send_pack

    referral = Referral.objects.create(
        reference="REF-TEST",
        case=case,
        kind="remove",
        organisation=users["supplier_a"].organisation,
        lodged_by=users["supplier_a"],
        grounds="Disproportionate",
    )
    from governance.models import ReferralDocument
    from portal.documents import stored_documents

    with stored_documents(folder="referrals") as store:
        grounds = ReferralDocument.objects.create(
            referral=referral,
            source="grounds",
            uploaded_by=users["supplier_a"],
            **store(pdf_upload("grounds.pdf")).fields(),
        )
    referral_send_pack(actor=users["secretariat"], referral=referral, disclosed=[parties])
    import_sample(actor=users["secretariat"])
    cpl_version_publish(actor=users["secretariat"])
    job = CPLImport.objects.create(
        file_name="x.csv",
        file_sha256="0" * 64,
        file_size=1,
        stored_name="x",
        uploaded_by=users["secretariat"],
    )
    # SMETS1: an EPC entry and supplier A's emergency request (ssc-only summary, one document).
    from cpl.combinations import product_combination_save
    from cpl.emergency import emergency_request_submit
    from cpl.models import Manufacturer

    maker = Manufacturer.objects.create(manufacturer_id="5A5A", name="SMETS1 Meters")
    meter, hub = (
        DeviceModel.objects.create(
            device_type=kind,
            manufacturer=maker,
            model_id=model_id,
            hardware_version="0100",
            firmware_version="00000001",
            smets_generation="SMETS1",
            date_added=datetime.date(2020, 1, 1),
        )
        for kind, model_id in (("ESME", "0001"), ("CHF", "0002"))
    )
    entry = product_combination_save(
        actor=None,
        reference="EPC-1",
        csp="CSP North",
        device_models=[meter, hub],
        on_list="epc",
        first_added=datetime.date(2021, 1, 1),
    )
    emergency = emergency_request_submit(
        actor=users["supplier_a"],
        device_model=meter,
        new_firmware_version="0000000a",
        combinations=[entry],
        vulnerability_summary="Buffer overflow in the HAN parser.",
        summary_classification="ssc-only",
        evidence=[pdf_upload("advisory.pdf")],
    )
    return {
        "cpl:combination": {"pk": entry.pk},
        "cpl:emergency": {"pk": emergency.pk},
        "cpl:emergency-action": {"pk": emergency.pk, "step": "accept"},
        "cpl:emergency-evidence": {
            "pk": emergency.pk,
            "document_pk": emergency.evidence.get().pk,
        },
        "cpl:device-model": {"pk": DeviceModel.objects.first().pk},
        "cpl:certificate-add": {"pk": DeviceModel.objects.first().pk},
        "cpl:certificate": {"pk": AssuranceCertificate.objects.first().pk},
        "cpl:import-detail": {"pk": job.pk},
        "governance:case-open": {"certificate_pk": case.certificate_id},
        "governance:case-action": {"action": "start_assessment"},
        "governance:evidence-download": {"document_pk": parties.pk},
        "governance:evidence-grant": {"document_pk": named.pk},
        "governance:representation-download": {"document_pk": representation.documents.get().pk},
        "governance:characteristics-download": {"pk": characteristics.pk},
        "cpl:relist": {"pk": DeviceModel.objects.first().pk},
        "governance:plan": {"pk": requirement.pk},
        "governance:plan-download": {"pk": requirement.pk, "plan_pk": plan.pk},
        "governance:policy-download": {"pk": policy.pk},
        "inbox-detail": {"pk": delivery.pk},
        "notice": {"pk": notice.pk},
        "governance:referral": {"pk": referral.pk},
        "governance:pack-download": {"pk": referral.pk, "version": 1},
        "governance:referral-document": {"pk": referral.pk, "document_pk": grounds.pk},
        "*": {"case_pk": case.pk, "ballot_pk": ballot.pk},
    }


SAMPLE_KWARGS = {"number": 1, "fmt": "csv", "app_label": "portal"}


def url_for(name, pattern, objects):
    if "<unnamed" in name:  # the admin's catch-all
        return "/admin/portal/"
    params = list(pattern.pattern.regex.groupindex)
    specific = {**objects["*"], **objects.get(name, {})}
    kwargs = {key: specific.get(key, SAMPLE_KWARGS.get(key, "1")) for key in params}
    return reverse(name, kwargs=kwargs)


def outcome(response):
    if response.status_code == 302:
        return LOGIN if response["Location"].startswith("/accounts/login/") else REDIRECT
    return response.status_code


@pytest.mark.django_db
def test_every_url_has_a_row_for_every_role(client, users, objects):
    names = list(iter_url_names())
    missing = [name for name, _ in names if expected_for(name) is None]
    assert not missing, f"URLs with no row in the access matrix: {missing}"
    failures = []
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            sign_in(client, users[role])
        for name, pattern in names:
            url = url_for(name, pattern, objects)
            got = outcome(client.get(url))
            want = expected_for(name)[role]
            if got != want:
                failures.append(f"{role:12} {name:28} {url:40} expected {want}, got {got}")
    assert not failures, "\n".join(failures)
    assert len(names) > 20


def test_the_table_has_no_stale_rows():
    names = {name for name, _ in iter_url_names()}
    for key in EXPECTED:
        if key.endswith(":*"):
            assert any(n.startswith(key[:-1]) for n in names), key
        else:
            assert key in names, f"{key} is in the access matrix but no longer a URL"
