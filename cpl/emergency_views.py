"""Pages of SMETS1 emergency CPL entry requests (cpl.emergency): the list, the supplier's form,
a request's page with the secretariat's actions (each behind a confirmation page), and the
evidence downloads."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, ListView

from portal.confirm import confirmation_page
from portal.documents import attachment_response
from portal.forms import DocumentField, ObjectsField, OneTimeSubmissionMixin
from portal.permissions import PolicyRequiredMixin

from . import emergency
from .models import (
    EmergencyEntryRequest,
    EmergencyEvidence,
    ProductCombination,
    VulnerabilityClassification,
)
from .policies import EMERGENCY_REQUESTS


class EmergencyRequestForm(OneTimeSubmissionMixin, forms.Form):
    device_model = forms.ModelChoiceField(
        label="Device model (current firmware)",
        queryset=emergency.epc_device_models(),
        empty_label="Select the device model",
        help_text="A SMETS1 device model on the CPL that an Eligible Product Combination includes.",
        error_messages={"required": "Select the device model the new firmware replaces"},
    )
    new_firmware_version = forms.CharField(
        label="New firmware version",
        help_text="8 hexadecimal digits, for example 0001C5C8",
        max_length=8,
        error_messages={"required": "Enter the new firmware version"},
    )
    new_image_hash = forms.CharField(
        label="New Manufacturer Image hash (optional)",
        help_text="The SHA-256 of the firmware image: 64 hexadecimal digits",
        max_length=64,
        required=False,
    )
    combinations = ObjectsField(
        label="Affected Eligible Product Combinations",
        queryset=ProductCombination.objects.filter(on_list=ProductCombination.List.EPC),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Select the combinations the firmware affects"},
    )
    vulnerability_summary = forms.CharField(
        label="Vulnerability summary",
        max_length=emergency.MAX_SUMMARY,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Summarise the vulnerability the firmware fixes"},
    )
    summary_classification = forms.ChoiceField(
        label="Who may read the summary and the evidence",
        choices=VulnerabilityClassification.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select who may read the vulnerability summary"},
    )
    evidence = DocumentField(label="Evidence (optional)", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        chosen = self.fields["device_model"]
        # htmx: choosing a model fetches this form for it and swaps in its combinations. Without
        # JavaScript every EPC entry is listed, and a wrong one is refused by name on sending.
        chosen.widget.attrs.update(
            {
                "hx-get": reverse("cpl:emergency-submit"),
                "hx-trigger": "change",
                "hx-target": "#combinations-group",
                "hx-select": "#combinations-group",
                "hx-swap": "outerHTML",
            }
        )
        model = self._chosen_model()
        combinations = self.fields["combinations"]
        if model is None:
            combinations.help_text = "Only those that include the chosen device model are accepted."
            return
        shown = list(emergency.epc_combinations_of(model).order_by("reference"))
        combinations.widget.choices = [(c.pk, str(c)) for c in shown]
        combinations.help_text = (
            f"The Eligible Product Combinations that include {model}."
            if shown
            else f"No Eligible Product Combination includes {model}."
        )

    def _chosen_model(self):
        raw = (self.data if self.is_bound else self.initial).get("device_model")
        if raw in (None, ""):
            return None
        try:
            return self.fields["device_model"].clean(raw)
        except forms.ValidationError:
            return None

    def clean(self):
        data = super().clean()
        model, chosen = data.get("device_model"), data.get("combinations")
        if (
            model is not None
            and chosen
            and (outside := emergency.combinations_outside_message(model, chosen))
        ):
            self.add_error("combinations", outside)
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reasons",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Give the reasons"},
    )


class PPCTForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome of the fast-track PPCT",
        choices=[("passed", "Passed"), ("failed", "Failed")],
        widget=forms.RadioSelect,
        error_messages={"required": "Select the outcome of the PPCT"},
    )
    notes = forms.CharField(
        label="Outcome notes", max_length=5000, required=False, widget=forms.Textarea
    )


class EmergencyListView(PolicyRequiredMixin, ListView):
    policy = EMERGENCY_REQUESTS
    template_name = "cpl/emergency_list.html"
    context_object_name = "requests"
    paginate_by = 50

    def get_queryset(self):
        return EMERGENCY_REQUESTS.prepare(EMERGENCY_REQUESTS.visible(self.request.user))

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            may_submit=EMERGENCY_REQUESTS.can(self.request.user, "submit", None), **kwargs
        )


class EmergencySubmitView(PolicyRequiredMixin, FormView):
    policy, policy_action = EMERGENCY_REQUESTS, "submit"
    template_name = "cpl/emergency_form.html"
    form_class = EmergencyRequestForm

    def get_initial(self):
        # The device model chosen on the page (htmx asks for its combinations this way).
        return {**super().get_initial(), "device_model": self.request.GET.get("device_model")}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            with form.submitted_once(self.request.user) as submission:
                request = emergency.emergency_request_submit(
                    actor=self.request.user,
                    device_model=data["device_model"],
                    new_firmware_version=data["new_firmware_version"],
                    new_image_hash=data["new_image_hash"],
                    combinations=data["combinations"],
                    vulnerability_summary=data["vulnerability_summary"],
                    summary_classification=data["summary_classification"],
                    evidence=[data["evidence"]] if data.get("evidence") else [],
                )
                submission.result_url = reverse("cpl:emergency", args=[request.pk])
        except emergency.EmergencyRequestInvalid as invalid:
            for name, errors in invalid.errors.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Emergency CPL entry request {request.reference} sent to the SSC Secretariat.",
        )
        return redirect("cpl:emergency", pk=request.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


def _request_or_404(user, pk) -> EmergencyEntryRequest:
    return EMERGENCY_REQUESTS.get_or_404(user, pk)


class EmergencyDetailView(PolicyRequiredMixin, View):
    policy = EMERGENCY_REQUESTS

    def get(self, request, pk):
        entry = _request_or_404(request.user, pk)
        return render(request, "cpl/emergency_detail.html", self.context(request, entry))

    @staticmethod
    def context(request, entry, **extra):
        user = request.user
        reads_summary = EMERGENCY_REQUESTS.can(user, "view_summary", entry)
        return {
            "entry": entry,
            "actions": EMERGENCY_REQUESTS.actions(user, entry),
            "reads_summary": reads_summary,
            "combinations": entry.combinations.order_by("reference"),
            "evidence": entry.evidence.all() if reads_summary else [],
            "reason_form": extra.pop("reason_form", ReasonForm()),
            "ppct_form": extra.pop("ppct_form", PPCTForm()),
            **extra,
        }


class EmergencyActionView(PolicyRequiredMixin, View):
    """One secretariat action on a request, after its confirmation page."""

    policy = EMERGENCY_REQUESTS
    ACTIONS = {
        "accept": ("accept", "Accept this emergency CPL entry request?", "Accept the request"),
        "reject": ("reject", "Reject this emergency CPL entry request?", "Reject the request"),
        "list": (
            "list_on_cpl",
            "List the new firmware on the CPL as an emergency entry?",
            "List on the CPL",
        ),
        "ppct": ("record_ppct", "Record the outcome of the fast-track PPCT?", "Record the outcome"),
        "withdraw": (
            "withdraw",
            "Withdraw the emergency entry from the CPL?",
            "Withdraw the emergency entry",
        ),
    }
    DONE = {
        "accept": "accepted. The requester is told; list the entry on the CPL next.",
        "reject": "rejected. The requester is told your reasons.",
        "list": "listed on the CPL as an emergency entry; the fast-track PPCT is now due.",
        "ppct": "the fast-track PPCT's outcome is recorded.",
        "withdraw": "the emergency entry is withdrawn from the CPL.",
    }
    WARNINGS = {
        "accept": "The requester is told; the secretariat then lists the entry.",
        "reject": "The request is closed and the requester is told your reasons.",
        "list": "The new firmware goes on the CPL as an emergency entry. The DCC and the SSC get "
        "notices, and a fast-track PPCT becomes due.",
        "ppct": "A pass adds the affected combinations with the new firmware to the EPC and "
        "confirms the entry.",
        "withdraw": "The device model leaves the CPL and the DCC gets a CPL change notice.",
    }

    def post(self, request, pk, step):
        if step not in self.ACTIONS:
            raise Http404
        action, title, button = self.ACTIONS[step]
        entry = _request_or_404(request.user, pk)
        EMERGENCY_REQUESTS.require(request.user, action, entry)
        form = {"reject": ReasonForm, "withdraw": ReasonForm, "ppct": PPCTForm}.get(step)
        bound = form(request.POST) if form else None
        if bound is not None and not bound.is_valid():
            key = "ppct_form" if step == "ppct" else "reason_form"
            context = EmergencyDetailView.context(request, entry, **{key: bound, "failed": step})
            return render(request, "cpl/emergency_detail.html", context, status=400)
        data = bound.cleaned_data if bound is not None else {}
        details = [("Request", str(entry))]
        if "reason" in data:
            details.append(("Reasons", data["reason"]))
        if "outcome" in data:
            details.append(("Outcome", data["outcome"].capitalize()))
        warning = self.WARNINGS[step]
        if step == "ppct" and data.get("outcome") != "passed":
            warning = "A failure stands: the entry is then withdrawn from the CPL."
        page = confirmation_page(
            request,
            title=title,
            warning=warning,
            button=button,
            cancel_url=reverse("cpl:emergency", args=[entry.pk]),
            details=details,
            caption=entry.reference,
        )
        if page is not None:
            return page
        user = request.user
        try:
            if step == "accept":
                emergency.emergency_request_accept(actor=user, request=entry)
            elif step == "reject":
                emergency.emergency_request_reject(actor=user, request=entry, reason=data["reason"])
            elif step == "list":
                emergency.emergency_request_list(actor=user, request=entry)
            elif step == "ppct":
                emergency.emergency_ppct_record(
                    actor=user,
                    request=entry,
                    passed=data["outcome"] == "passed",
                    notes=data["notes"],
                )
            else:
                emergency.emergency_request_withdraw(
                    actor=user, request=entry, reason=data["reason"]
                )
        except ValueError as refused:  # e.g. a combination the EPC refuses
            messages.error(request, str(refused))
            return redirect("cpl:emergency", pk=entry.pk)
        messages.success(request, f"{entry.reference}: {self.DONE[step]}")
        return redirect("cpl:emergency", pk=entry.pk)


class EmergencyEvidenceDownloadView(PolicyRequiredMixin, View):
    policy = EMERGENCY_REQUESTS

    def get(self, request, pk, document_pk):
        entry = _request_or_404(request.user, pk)
        if not EMERGENCY_REQUESTS.can(request.user, "view_summary", entry):
            raise PermissionDenied("The evidence is for the SSC only.")
        try:
            document = entry.evidence.get(pk=document_pk)
        except (EmergencyEvidence.DoesNotExist, ValueError):
            raise Http404 from None
        return attachment_response(document, folder=emergency.EVIDENCE_FOLDER)
