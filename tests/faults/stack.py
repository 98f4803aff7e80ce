"""The fault drills run against the real stack only: PostgreSQL (row locks, unique indexes and
backend termination behave as in production) and a Redis broker. CI sets both."""

import os

import pytest
from django.db import connection

real_stack = pytest.mark.skipif(
    connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"),
    reason="fault drills need DATABASE_URL on PostgreSQL and REDIS_URL (CI sets both)",
)
