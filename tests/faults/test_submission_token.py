"""The one-time form token (portal.forms.OneTimeSubmissionMixin): a form sent again (a replay, a
back-button resubmit) is answered with what the first one made, never a second effect. The
parallel case is drilled on PostgreSQL in test_double_submit."""

import datetime
import re

import pytest
from django.urls import reverse

from governance import services
from governance.models import CaseComment, SupplierPolicy
from portal.models import SubmissionToken

from ..helpers import cpa_case, pdf_upload

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="submission_token" value="([0-9a-f-]{36})"')


def tokens_on(response) -> list[str]:
    assert response.status_code == 200
    return TOKEN.findall(response.content.decode())


@pytest.fixture
def case_in_assessment(users):
    case = cpa_case(users)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    return case


def test_a_replayed_comment_is_added_once_and_answered_with_it(case_in_assessment, client_for):
    client = client_for("member")
    case_page = reverse("governance:case", args=[case_in_assessment.pk])
    [token] = tokens_on(client.get(case_page))
    url = reverse("governance:comment", args=[case_in_assessment.pk])
    form = {"text": "Is the key extractable?", "submission_token": token}

    assert client.post(url, form).status_code == 302
    replay = client.post(url, form, follow=True)

    assert CaseComment.objects.filter(case=case_in_assessment).count() == 1
    assert replay.redirect_chain[0][0] == f"{case_page}#comments"
    assert "already sent, so it was not saved a second time" in replay.content.decode()
    assert SubmissionToken.objects.get().result_url == f"{case_page}#comments"


def test_each_showing_of_a_form_issues_a_new_token(case_in_assessment, client_for):
    client = client_for("member")
    case_page = reverse("governance:case", args=[case_in_assessment.pk])
    first, second = tokens_on(client.get(case_page)), tokens_on(client.get(case_page))
    assert first and second and first != second


def policy_form(token):
    review = (datetime.date.today() + datetime.timedelta(days=365)).isoformat()
    return {"review_date": review, "file": pdf_upload("policy.pdf"), "submission_token": token}


def test_a_replayed_policy_upload_stores_one_policy(users, client_for):
    client = client_for("supplier_a")
    [token] = tokens_on(client.get(reverse("governance:policy")))
    assert client.post(reverse("governance:policy"), policy_form(token)).status_code == 302
    replay = client.post(reverse("governance:policy"), policy_form(token))
    assert replay.status_code == 302 and replay["Location"] == reverse("governance:policy")
    assert SupplierPolicy.objects.count() == 1


def test_the_same_token_from_another_user_is_their_own_submission(users, client_for):
    """Tokens are per user: one user's token can neither block nor replay another's form."""
    [token] = tokens_on(client_for("supplier_a").get(reverse("governance:policy")))
    first = client_for("supplier_a").post(reverse("governance:policy"), policy_form(token))
    assert first.status_code == 302
    other = client_for("supplier_b").post(reverse("governance:policy"), policy_form(token))
    assert other.status_code == 302
    assert SupplierPolicy.objects.count() == 2


def test_a_malformed_token_is_a_form_error_and_changes_nothing(users, client_for):
    response = client_for("supplier_a").post(
        reverse("governance:policy"), policy_form("not-a-token\u202e")
    )
    assert response.status_code == 400
    assert "This form is out of date" in response.content.decode()
    assert not SupplierPolicy.objects.exists() and not SubmissionToken.objects.exists()


def test_old_tokens_are_purged_and_recent_ones_kept(users):
    from django.utils import timezone

    from portal.tasks import submission_tokens_purge

    old = SubmissionToken.objects.create(user=users["member"], token="0" * 32)
    recent = SubmissionToken.objects.create(user=users["member"], token="1" * 32)
    SubmissionToken.objects.filter(pk=old.pk).update(
        used_at=timezone.now() - datetime.timedelta(days=8)
    )
    assert submission_tokens_purge() == 1
    assert list(SubmissionToken.objects.values_list("pk", flat=True)) == [recent.pk]
