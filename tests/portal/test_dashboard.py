import datetime
import re

import pytest

from ..helpers import cpl_csv, cpl_row, import_bytes, import_sample

pytestmark = pytest.mark.django_db


def test_secretariat_sees_expiring_certificates_and_cpl_changes(client_for):
    import_sample()
    soon = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    import_bytes(
        cpl_csv([cpl_row(7, **{"CPA Expiry Date": soon, "CPA Certificate Number": "CPA-SOON"})])
    )
    body = client_for("secretariat").get("/").content.decode()
    assert "Certificates expiring or due for renewal within 90 days" in body and "CPA-SOON" in body
    assert "Recent changes to the CPL" in body and "Suspended" in body
    assert "CPA certificates awaiting an SSC decision" in body


def test_chair_sees_neither_cpa_flags_nor_secretariat_panels(client_for):
    # The flagged certificates are for who may open a case on them: the secretariat.
    import_sample()
    body = client_for("chair").get("/").content.decode()
    assert "CPA certificates awaiting an SSC decision" not in body
    assert "Certificates expiring or due for renewal within" not in body


def test_dcc_sees_cpl_changes(client_for):
    import_sample()
    body = client_for("dcc").get("/").content.decode()
    assert "Recent changes to the CPL" in body
    assert "awaiting an SSC decision" not in body


@pytest.mark.parametrize(
    "role, links",
    [
        ("supplier_a", ["Browse the Central Products List", "CPA Certificate Remedial Plans"]),
        ("authority", ["Referrals to the Authority", "Your inbox"]),
        ("expert", ["Cases", "Your inbox"]),
    ],
)
def test_with_nothing_to_do_one_sentence_and_where_the_role_can_go(client_for, role, links):
    import_sample()
    body = client_for(role).get("/").content.decode()
    assert "Nothing is waiting for you." in body
    assert 'aria-labelledby="panel-' not in body  # no empty panel
    assert "CPL changes" not in body and "CPA certificates" not in body
    for text in links:
        assert re.search(rf'<a class="govuk-link" href="/[^"]*">{text}</a>', body), text
    assert ">Audit log</a>" not in body.split('id="main-content"')[1]


def test_empty_panels_are_not_shown(client_for):
    body = client_for("chair").get("/").content.decode()  # no case, no CPL yet
    assert "Nothing is waiting for you." in body
    for title in ("Notices to acknowledge", "Open cases", "CPA certificates awaiting"):
        assert title not in body


def test_chair_sees_open_cases_and_who_has_not_voted(committee, client_for):
    from django.utils import timezone

    from governance import services

    from ..helpers import cpa_case

    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(hours=20)
    )
    services.conflict_declare(actor=committee["member"], case=case, has_conflict=False, reason="")
    services.vote_cast(actor=committee["member"], ballot=ballot, choice="suspend")
    body = client_for("chair").get("/").content.decode()
    assert "Open cases" in body and case.reference in body
    assert "Ballots you chair" in body and "Not voted: member2, member3" in body
    member_view = client_for(committee["member2"]).get("/").content.decode()
    assert (
        "Ballots waiting for your vote" in member_view
        and f"Vote on {case.reference}" in member_view
    )
    assert f"Vote on {case.reference}" not in client_for("member").get("/").content.decode()


def panel_titles(body: str) -> list[str]:
    return [
        re.sub(r"<span.*", "", heading, flags=re.S).strip()
        for heading in re.findall(r'<h2 class="govuk-heading-m" id="panel-\d+">(.*?)</h2>', body)
    ]


def test_panels_with_deadlines_come_first_the_soonest_first(committee, client_for):
    from governance import referrals

    from ..helpers import decided_case, pdf_upload

    case = decided_case(committee, decision="suspend")
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"],
        case=case,
        kind="remove",
        grounds="Disproportionate",
        uploads=[pdf_upload("grounds.pdf")],
    )
    pack_due = referral.pack_due_date
    later = (pack_due + datetime.timedelta(days=20)).isoformat()
    import_bytes(
        cpl_csv([cpl_row(71, **{"CPA Expiry Date": later, "CPA Certificate Number": "CPA-LATER"})])
    )
    titles = panel_titles(client_for("secretariat").get("/").content.decode())
    pack, expiring = "Referrals needing the SSC", "Certificates expiring or due for renewal"
    expiring = next(t for t in titles if t.startswith(expiring))
    # Deadlines first, the soonest first; then the panels without one, in their usual order.
    assert titles.index(pack) < titles.index(expiring) < titles.index("Open cases")
    sooner = (pack_due - datetime.timedelta(days=1)).isoformat()
    import_bytes(
        cpl_csv([cpl_row(72, **{"CPA Expiry Date": sooner, "CPA Certificate Number": "CPA-SOON"})])
    )
    titles = panel_titles(client_for("secretariat").get("/").content.decode())
    assert titles.index(expiring) < titles.index(pack) < titles.index("Open cases")


def test_a_plan_to_submit_comes_before_the_notices(committee, client_for):
    from ..helpers import decided_case

    decided_case(committee)  # supplier A: a clause 6.3 notice and a plan due
    titles = panel_titles(client_for("supplier_a").get("/").content.decode())
    assert titles == ["Remedial plans to submit", "Notices to acknowledge"]


def test_a_flagged_certificate_leaves_the_secretariats_panel_once_the_ssc_decided(
    committee, client_for
):
    from governance.models import DecisionRecord

    from ..helpers import decided_case

    def panel() -> str:
        body = client_for("secretariat").get("/").content.decode()
        title = "CPA certificates awaiting an SSC decision"
        return body.split(title, 1)[1].split("</section>")[0] if title in body else ""

    decided = decided_case(committee)
    assert decided.certificate.number not in panel()
    DecisionRecord.objects.filter(case=decided).update(issued_at=None)  # as if not yet issued
    assert decided.certificate.number in panel()
