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


SSC_ROLES = frozenset({Role.SECRETARIAT, Role.CHAIR, Role.MEMBER})
