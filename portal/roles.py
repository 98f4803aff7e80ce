"""Roles of DESIGN.md section 2. Each is a Django group created by a migration."""

from django.db import models


class Role(models.TextChoices):
    SECRETARIAT = "SSC Secretariat", "SSC Secretariat"
    CHAIR = "SSC Chair", "SSC Chair"
    MEMBER = "SSC Member", "SSC Member"
    EXPERT = "Technical Expert", "Technical Expert"
    SUPPLIER = "Supplier", "Supplier"
    OTHER_PARTY = "Other Party", "Other Party"
    AUTHORITY = "Authority", "Authority"


# Roles that see vulnerability details or decide on them: a second factor is mandatory.
MFA_REQUIRED_ROLES = frozenset(
    {Role.SECRETARIAT, Role.CHAIR, Role.MEMBER, Role.EXPERT, Role.AUTHORITY}
)
SSC_ROLES = frozenset({Role.SECRETARIAT, Role.CHAIR, Role.MEMBER})
