from django import forms
from django.conf import settings

from portal.forms import OneTimeSubmissionMixin, not_in_future, within_years
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
    )
    on = GovukDateField(
        label="Date of the event",
        widget=GovukDateInput(),
        validators=[not_in_future],
    )
    reason = forms.CharField(
        label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
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

    def clean(self):
        data = super().clean()
        if data.get("issued") and data.get("expiry") and data["expiry"] <= data["issued"]:
            self.add_error("expiry", "The expiry date must be after the issue date.")
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
