from django import forms
from django.conf import settings

from portal.forms import OneTimeSubmissionMixin, not_in_future, say_what_is_missing, within_years
from portal.widgets import GovukDateField, GovukDateInput

from .models import AssuranceCertificate, DeviceModel, DeviceType, Manufacturer, SmetsGeneration


class RegisterFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        help_text="Manufacturer, model ID, firmware or certificate number",
    )
    device_type = forms.ChoiceField(
        label="Device type", required=False, choices=[("", "Any device type"), *DeviceType.choices]
    )
    manufacturer = forms.ModelChoiceField(
        label="Manufacturer",
        required=False,
        queryset=Manufacturer.objects.order_by("name"),
        empty_label="Any manufacturer",
    )
    status = forms.ChoiceField(
        label="CPL status",
        required=False,
        choices=[("", "Any status"), *DeviceModel.Status.choices],
    )
    generation = forms.ChoiceField(
        label="SMETS generation",
        required=False,
        choices=[("", "Any generation"), *SmetsGeneration.choices],
    )
    expiring_before = GovukDateField(
        label="A certificate expires before",
        subject="The expiry date to filter by",
        required=False,
        help_text="For example, 31 3 2027",
        widget=GovukDateInput(),
        validators=[within_years],
    )


class CPLImportForm(OneTimeSubmissionMixin, forms.Form):
    file = forms.FileField(
        label="CPL file (CSV or XLSX)",
        help_text="In the CPL exchange format. The whole file is checked first: "
        "if any row is wrong, nothing is imported.",
        error_messages={"required": "Select a CPL file", "empty": "The selected file is empty."},
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise forms.ValidationError("The selected file is empty.")
        if upload.size > settings.CPL_IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The selected file must be smaller than "
                f"{settings.CPL_IMPORT_MAX_BYTES // 1048576} MB."
            )
        return upload


class CertificateEventForm(forms.Form):
    event = forms.ChoiceField(
        label="What happened to the certificate?",
        widget=forms.RadioSelect,
        choices=[("withdraw", "Withdrawn"), ("cancel", "Cancelled")],
        error_messages={"required": "Select what happened to the certificate"},
    )
    on = GovukDateField(
        label="Date of the event",
        widget=GovukDateInput(),
        validators=[not_in_future],
    )
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Enter the reason for the withdrawal or cancellation"},
    )


class CertificateAddForm(OneTimeSubmissionMixin, forms.Form):
    kind = forms.ChoiceField(label="Kind of certificate", choices=AssuranceCertificate.Kind.choices)
    number = forms.CharField(label="Certificate number", max_length=100)
    issued = GovukDateField(
        label="Issue date",
        required=False,
        widget=GovukDateInput(),
        validators=[not_in_future],
    )
    expiry = GovukDateField(
        label="Expiry date",
        widget=GovukDateInput(),
        validators=[within_years],
    )
    renewal_due = GovukDateField(
        label="Renewal date (CPA only)",
        required=False,
        help_text="For a lifetime CPA certificate renewed periodically: if no renewal is "
        "recorded by this date, it lapses like an expiry.",
        widget=GovukDateInput(),
        validators=[within_years],
    )
    supersedes = forms.ModelChoiceField(
        label="Re-certification of (CPA only)",
        required=False,
        queryset=AssuranceCertificate.objects.none(),
        empty_label="Not a re-certification",
        help_text="The CPA certificate no longer valid that this one replaces: it is kept as "
        "history, and the new one is recorded for all of its device models.",
    )

    def __init__(self, *args, supersedable=(), cpa_route=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supersedes"].queryset = AssuranceCertificate.objects.filter(
            pk__in=[c.pk for c in supersedable]
        )
        if not supersedable:
            del self.fields["supersedes"]
        if not cpa_route:  # a SMETS1 device model carries no CPA certificate: not offered
            kind = self.fields["kind"]
            kind.choices = [c for c in kind.choices if c[0] != AssuranceCertificate.Kind.CPA]
            del self.fields["renewal_due"]

    def clean(self):
        data = super().clean()
        if data.get("issued") and data.get("expiry") and data["expiry"] <= data["issued"]:
            self.add_error("expiry", "The expiry date must be after the issue date.")
        renewal, kind = data.get("renewal_due"), data.get("kind")
        if renewal and kind != AssuranceCertificate.Kind.CPA:
            self.add_error("renewal_due", "Only a CPA certificate has a renewal date.")
        elif renewal and data.get("issued") and renewal <= data["issued"]:
            self.add_error("renewal_due", "The renewal date must be after the issue date.")
        elif renewal and data.get("expiry") and renewal > data["expiry"]:
            self.add_error("renewal_due", "The renewal date must be on or before the expiry.")
        if data.get("supersedes") and kind != AssuranceCertificate.Kind.CPA:
            self.add_error("supersedes", "Only a CPA certificate re-certifies a CPA certificate.")
        return data


class InventoryImportForm(OneTimeSubmissionMixin, forms.Form):
    file = forms.FileField(
        label="DCC inventory extract (CSV, or CSV compressed with gzip)",
        error_messages={"required": "Select an extract", "empty": "The selected file is empty."},
    )
    as_of = GovukDateField(
        label="Date of the extract",
        required=False,
        help_text="For device-level extracts; aggregated files carry their "
        "own date. Default: today.",
        widget=GovukDateInput(),
        validators=[not_in_future],
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.INVENTORY_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"The selected file must be smaller than "
                f"{settings.INVENTORY_UPLOAD_MAX_BYTES // 1048576} MB; use "
                f"`manage.py import_inventory` for larger extracts."
            )
        return upload


class RelistForm(OneTimeSubmissionMixin, forms.Form):
    reason = forms.CharField(
        label="Why is the device model re-listed?",
        help_text="For example, the certificate renewed and what the SSC was told. "
        "The reason goes to the DCC with the CPL change notice and into the audit log.",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Enter why the device model is re-listed"},
    )


say_what_is_missing(
    {
        CertificateAddForm: {
            "kind": "Select the kind of certificate",
            "number": "Enter the certificate number",
        },
    }
)
