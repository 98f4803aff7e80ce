"""Pages of the SMETS1 Eligible and Pending Product Combinations lists (cpl.combinations):
browse, export, import, and the enrolment eligibility check (a page and a JSON endpoint)."""

from django import forms
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from portal.forms import OneTimeSubmissionMixin
from portal.paging import querystring_without_page
from portal.permissions import PolicyRequiredMixin

from . import combinations, selectors
from .exchange import ExchangeFileRejected
from .models import ProductCombination
from .policies import COMBINATIONS
from .views import export_response


class CombinationFilterForm(forms.Form):
    q = forms.CharField(
        label="Device model",
        required=False,
        max_length=100,
        help_text="An identity or its beginning (1A2B/7513), a manufacturer, a model ID or a "
        "firmware version",
    )
    csp = forms.ChoiceField(label="CSP", required=False)
    on_list = forms.ChoiceField(
        label="List",
        required=False,
        choices=[("", "Both lists"), *ProductCombination.List.choices],
    )

    def __init__(self, *args, csps: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["csp"].choices = [("", "Any CSP"), *((c, c) for c in csps)]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {"csp": data["csp"], "on_list": data["on_list"], "query": data["q"]}


class CombinationImportForm(OneTimeSubmissionMixin, forms.Form):
    file = forms.FileField(
        label="Product combinations file (CSV or XLSX)",
        help_text="In the product combinations format. The whole file is checked first: if any "
        "row is wrong, nothing is imported.",
        error_messages={"required": "Select a file", "empty": "The selected file is empty."},
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > combinations.MAX_BYTES:
            raise forms.ValidationError(
                f"The selected file must be smaller than {combinations.MAX_BYTES // 1048576} MB."
            )
        return upload


class EligibilityForm(forms.Form):
    csp = forms.ChoiceField(
        label="CSP", error_messages={"required": "Select the CSP of the installation"}
    )
    models = forms.CharField(
        label="Device models",
        help_text=f"One a line, written MANUFACTURER/MODEL/HARDWARE/FIRMWARE, for example "
        f"1A2B/7513/0200/0001C5C7; at most {combinations.MAX_MEMBERS}.",
        max_length=combinations.MAX_MEMBERS * 40,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        error_messages={"required": "Enter the installation's device models"},
    )

    def __init__(self, *args, csps: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["csp"].choices = [("", "Select a CSP"), *((c, c) for c in csps)]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["installation"] = combinations.installation_parse(
                csp=data["csp"], models=data["models"].splitlines()
            )
        except combinations.InstallationInvalid as invalid:
            for name, errors in invalid.errors.items():
                for error in errors:
                    self.add_error("csp" if name == "csp" else "models", error)
        return data


def _filter_form(request) -> CombinationFilterForm:
    return CombinationFilterForm(request.GET or None, csps=combinations.known_csps())


class CombinationListView(PolicyRequiredMixin, ListView):
    policy = COMBINATIONS
    template_name = "cpl/combination_list.html"
    context_object_name = "combinations"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = _filter_form(self.request)
        return combinations.combination_list(user=self.request.user, **self.filter_form.filters())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            filter_form=self.filter_form,
            querystring=querystring_without_page(self.request),
            actions=COMBINATIONS.actions(self.request.user, None),
        )
        return context


class CombinationDetailView(PolicyRequiredMixin, DetailView):
    policy = COMBINATIONS
    template_name = "cpl/combination_detail.html"
    context_object_name = "combination"

    def get_object(self, queryset=None):
        user = self.request.user
        entries = combinations.combination_list(user=user).prefetch_related("subsets")
        return COMBINATIONS.get_or_404(user, self.kwargs["pk"], queryset=entries)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            history=selectors.object_history("cpl.productcombination", self.object.pk),
            **kwargs,
        )


class CombinationExportView(PolicyRequiredMixin, View):
    """Both lists (or the filtered part) in the product combinations format."""

    policy, policy_action = COMBINATIONS, "export"

    def get(self, request, fmt: str):
        filters = _filter_form(request).filters()
        now = timezone.now()
        meta = {"exported_at": now.isoformat(), "filters": {k: v for k, v in filters.items() if v}}
        return export_response(
            lambda: combinations.export_rows(
                combinations.combination_list(user=request.user, **filters)
            ),
            fmt,
            f"product-combinations-{now:%Y%m%d-%H%M}",
            meta,
            layout=combinations.LAYOUT,
        )


class CombinationImportView(PolicyRequiredMixin, FormView):
    """Checked and imported in the request: a file is at most MAX_ROWS entries."""

    policy, policy_action = COMBINATIONS, "change"
    template_name = "cpl/combination_import.html"
    form_class = CombinationImportForm

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        upload.seek(0)
        try:
            with form.submitted_once(self.request.user) as submission:
                summary = combinations.combinations_import(
                    actor=self.request.user, binary=upload, size=upload.size, file_name=upload.name
                )
                submission.result_url = reverse("cpl:combination-list")
        except ExchangeFileRejected as rejected:
            return self.render_to_response(
                self.get_context_data(form=form, rejected=rejected), status=400
            )
        messages.success(
            self.request,
            f"{summary.file_name} imported: {summary.created} entries added, {summary.updated} "
            f"changed, {summary.unchanged} unchanged.",
        )
        return redirect("cpl:combination-list")

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class EligibilityView(PolicyRequiredMixin, View):
    """Whether a SMETS1 installation may be enrolled: a form, then its answer on the same page."""

    policy, policy_action = COMBINATIONS, "check_eligibility"
    template_name = "cpl/combination_eligibility.html"

    def get(self, request):
        asked = "csp" in request.GET or "models" in request.GET
        form = EligibilityForm(request.GET if asked else None, csps=combinations.known_csps())
        context = {"form": form, "max_members": combinations.MAX_MEMBERS}
        if not asked:
            return render(request, self.template_name, context)
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        context["result"] = combinations.enrolment_eligibility(
            installation=form.cleaned_data["installation"]
        )
        return render(request, self.template_name, context)


class EligibilityJSONView(PolicyRequiredMixin, View):
    """`?csp=CSP North&model=1A2B/7513/0200/0001C5C7&model=…`: the answer as JSON
    (docs/product-combinations-format.md); 400 with the problems when the question is not."""

    policy, policy_action = COMBINATIONS, "check_eligibility"

    def get(self, request):
        models = request.GET.getlist("model")
        if len(models) > combinations.MAX_MEMBERS or sum(map(len, models)) > 2000:
            return JsonResponse(
                {"errors": {"model": [f"At most {combinations.MAX_MEMBERS} device models."]}},
                status=400,
            )
        try:
            installation = combinations.installation_parse(
                csp=request.GET.get("csp", "")[:200], models=models
            )
        except combinations.InstallationInvalid as invalid:
            return JsonResponse({"errors": invalid.errors}, status=400)
        result = combinations.enrolment_eligibility(installation=installation)
        answer = result.as_dict()
        if result.entry is not None:
            answer["entry"]["url"] = request.build_absolute_uri(
                reverse("cpl:combination", args=[result.entry.pk])
            )
        return JsonResponse(answer, json_dumps_params={"ensure_ascii": False})
