from django.db import migrations

from portal.role_grants import grant_role_permissions

GRANTS = {
    "SSC Secretariat": ["governance.view_referral"],
    "SSC Chair": ["governance.view_referral"],
    "SSC Member": ["governance.view_referral"],
    "Supplier": ["governance.view_referral", "governance.add_referral"],
    "Other Party": ["governance.view_referral", "governance.add_referral"],
    "Authority": ["governance.view_referral"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_referrals")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
