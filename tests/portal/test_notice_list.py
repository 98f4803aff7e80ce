"""The SSC's list of notices sent: per notice, how many recipients it was delivered to and how
many acknowledged it."""

import re

import pytest

from portal.models import NoticeDelivery
from portal.notices import notice_acknowledge, notice_send

pytestmark = pytest.mark.django_db


def _row(body: str, subject: str) -> list[str]:
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S) if subject in r)
    return [c.strip() for c in re.findall(r'<td class="govuk-table__cell">(.*?)</td>', row, re.S)]


def test_each_notice_counts_its_own_deliveries_and_acknowledgements(users, client_for):
    organisations = [users["supplier_a"].organisation, users["supplier_b"].organisation]
    with_outbox = {"actor": users["secretariat"], "kind": "decision", "body": "Read me"}
    first = notice_send(subject="First notice", organisations=organisations, **with_outbox)
    notice_send(subject="Second notice", organisations=organisations[:1], **with_outbox)
    deliveries = NoticeDelivery.objects.filter(notice=first).order_by("pk")
    total = deliveries.count()
    assert total >= 2
    deliveries.filter(pk=deliveries[0].pk).update(delivered_at=first.created_at)
    notice_acknowledge(actor=deliveries[0].recipient, delivery=deliveries[0])
    body = client_for("secretariat").get("/notices/").content.decode()
    first_row = _row(body, "First notice")
    assert first_row[2:] == [f"1 of {total}", f"1 of {total}"]
    second_total = NoticeDelivery.objects.filter(notice__subject="Second notice").count()
    assert _row(body, "Second notice")[2:] == [f"0 of {second_total}", f"0 of {second_total}"]
