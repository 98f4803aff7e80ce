"""Test settings: production settings with a fixed key, plain HTTP and in-process tasks.

DATABASE_URL and REDIS_URL are honoured, so CI runs the suite on PostgreSQL; tests that need
a real broker start a worker against REDIS_URL themselves.
"""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)

from portal.settings import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
HTTPS = False
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PRIVATE_STORAGE_ROOT = tempfile.mkdtemp(prefix="portal-test-private-")
STATIC_ROOT = tempfile.mkdtemp(prefix="portal-test-static-")
# A development signing key generated once per run; each test anchors the audit chain in its
# own folder (tests/conftest.py), since each test starts a new chain.
PORTAL_DEV_SIGNING_KEY_FILE = os.path.join(
    tempfile.mkdtemp(prefix="portal-test-key-"), "signing-key.pem"
)
PORTAL_AUDIT_ANCHOR_DIR = tempfile.mkdtemp(prefix="portal-test-anchors-")
# Most tests verify a chain they never anchored; tests/portal/test_audit_anchor.py requires it.
AUDIT_ANCHOR_REQUIRED = False
# The suite's plan journeys take one review; tests/governance/test_plan_reviews.py sets the
# production default ("two") where it tests the approval rule.
PLAN_APPROVAL_RULE = "one"
