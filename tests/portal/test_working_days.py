import datetime

import pytest

from portal.working_days import add_working_days, is_working_day, working_days_between

D = datetime.date


@pytest.mark.parametrize(
    "day, expected",
    [
        (D(2026, 12, 24), True),
        (D(2026, 12, 25), False),
        (D(2026, 12, 26), False),
        (D(2026, 12, 28), False),  # Boxing Day falls on a Saturday: substitute Monday
        (D(2026, 12, 29), True),
        (D(2027, 1, 1), False),
        (D(2027, 3, 26), False),  # Good Friday
        (D(2027, 3, 29), False),  # Easter Monday (England and Wales; not Scotland)
        (D(2026, 8, 31), False),  # Summer bank holiday, England and Wales
        (D(2026, 8, 3), True),  # Scotland's summer holiday is not one here
        (D(2026, 11, 28), False),  # Saturday
    ],
)
def test_working_days_follow_england_and_wales(day, expected):
    assert is_working_day(day) is expected


def test_adding_working_days_skips_christmas_and_new_year():
    assert add_working_days(D(2026, 12, 24), 1) == D(2026, 12, 29)
    assert add_working_days(D(2026, 12, 24), 5) == D(2027, 1, 5)
    assert add_working_days(D(2026, 12, 29), -1) == D(2026, 12, 24)
    assert add_working_days(D(2026, 11, 25), 0) == D(2026, 11, 25)


def test_counting_working_days_between_dates():
    assert working_days_between(D(2026, 12, 24), D(2027, 1, 5)) == 5
    assert working_days_between(D(2027, 1, 5), D(2026, 12, 24)) == 0
