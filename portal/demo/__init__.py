"""Demo organisations and one user per role, for `make run` (DEBUG only)."""

import base64
import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import Organisation, User
from portal.roles import Role

DEMO_PASSWORD = "portal-demo-2026"  # nosec B105  # the published demo password (README)
SAMPLE_CPL = Path(__file__).with_name("cpl-sample.csv")
# SMETS1 device models and their product combinations, so the SMETS1 pages have something in them.
SAMPLE_SMETS1_CPL = Path(__file__).with_name("cpl-smets1-sample.csv")
SAMPLE_COMBINATIONS = Path(__file__).with_name("product-combinations-sample.csv")

P = Organisation.PartyType
ORGANISATIONS = {
    "ssc": ("Security Sub-Committee", P.SSC, None),
    "authority": ("Ofgem (the Authority)", P.AUTHORITY, None),
    "dcc": ("Data Communications Company", P.DCC, "DCC01"),
    "supplier_a": ("Northern Lights Energy", P.LARGE_SUPPLIER, "NLEN01"),
    "supplier_b": ("Brightside Power", P.SMALL_SUPPLIER, "BRSP01"),
    "experts": ("Meridian Security Evaluation Lab", P.OTHER, None),
}
USERS = [
    # username, first name, last name, organisation key, role
    ("secretariat", "Sam", "Secretary", "ssc", Role.SECRETARIAT),
    ("chair", "Charlotte", "Chair", "ssc", Role.CHAIR),
    ("member1", "Morgan", "Adeyemi", "ssc", Role.MEMBER),
    ("member2", "Mina", "Kowalski", "ssc", Role.MEMBER),
    ("member3", "Mark", "O'Neill", "ssc", Role.MEMBER),
    ("expert", "Esther", "Expert", "experts", Role.EXPERT),
    ("supplier_a", "Alex", "Archer", "supplier_a", Role.SUPPLIER),
    ("supplier_b", "Bea", "Bennett", "supplier_b", Role.SUPPLIER),
    ("dcc", "Dev", "Collins", "dcc", Role.OTHER_PARTY),
    ("authority", "Avery", "Ofgem", "authority", Role.AUTHORITY),
]


def demo_totp_secret(username: str) -> str:
    """A fixed base32 TOTP secret per demo user, so scripts can sign in."""
    return base64.b32encode(
        hashlib.sha1(f"cpa-cpl-demo:{username}".encode(), usedforsecurity=False).digest()
    ).decode()


@transaction.atomic
def load_demo_users() -> list[tuple[User, str]]:
    if not settings.DEBUG:
        raise RuntimeError("Demo users are never created when DEBUG is off.")
    organisations = {}
    for key, (name, party_type, party_id) in ORGANISATIONS.items():
        organisations[key], _ = Organisation.objects.update_or_create(
            name=name, defaults={"party_type": party_type, "party_id": party_id}
        )
    created = []
    for username, first, last, org_key, role in USERS:
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "organisation": organisations[org_key],
                "email": f"{username}@example.org",
                "is_active": True,
            },
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        secret = demo_totp_secret(username)
        TOTPDevice.objects.filter(user=user).exclude(name="Demo authenticator").delete()
        TOTPDevice.objects.update_or_create(
            user=user,
            name="Demo authenticator",
            defaults={"key": base64.b32decode(secret).hex(), "confirmed": True},
        )
        created.append((user, secret))
    return created
