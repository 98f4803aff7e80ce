import tempfile
from dataclasses import dataclass

from django.contrib import messages
from django.core.cache import cache
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import DetailView, FormView, ListView
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from portal.confirm import confirmation_page
from portal.paging import querystring_without_page
from portal.permissions import PolicyRequiredMixin

from . import exchange, hooks, selectors, services
from .exchange import ExchangeFileRejected
from .forms import (
    CertificateAddForm,
    CertificateEventForm,
    CPLImportForm,
    InventoryImportForm,
    RegisterFilterForm,
    RelistForm,
)
from .imports import cpl_import_submit
from .inventory import inventory_import
from .models import CPLVersion, DeviceModel
from .policies import (
    CERTIFICATES,
    CHANGE_NOTICES,
    CPA_ROUTE_GENERATIONS,
    DEVICE_MODELS,
    IMPORTS,
    INVENTORY,
    VERSIONS,
    on_cpa_route,
    supersede_refusal,
)
from .services import file_sha256

EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


@dataclass
class WindowPage:
    """A page of a list read without counting it: one row more than the page tells whether
    there is a next page (a COUNT of a search or filter cost as much as the page itself)."""

    object_list: list
    number: int
    per_page: int
    has_next: bool

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous() or self.has_next

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.object_list else 0

    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.object_list)


class RegisterView(PolicyRequiredMixin, ListView):
    policy = DEVICE_MODELS
    template_name = "cpl/register.html"
    context_object_name = "device_models"
    paginate_by = 50

    def paginate_queryset(self, queryset, page_size):
        try:
            number = int(self.request.GET.get("page") or 1)
        except ValueError:
            raise Http404("That page number is not a number.") from None
        if number < 1:
            raise Http404("There is no such page.")
        offset = (number - 1) * page_size
        rows = selectors.register_page(queryset, offset, page_size + 1)
        if not rows and number > 1:
            raise Http404("There is no such page.")
        page = WindowPage(rows[:page_size], number, page_size, len(rows) > page_size)
        return None, page, page.object_list, page.has_other_pages()

    def get_queryset(self):
        self.filter_form = RegisterFilterForm(self.request.GET or None)
        filters = {}
        if self.filter_form.is_valid():
            data = self.filter_form.cleaned_data
            filters = {
                "device_type": data["device_type"],
                "status": data["status"],
                "generation": data["generation"],
                "manufacturer_id": data["manufacturer"].pk if data["manufacturer"] else None,
                "expiring_before": data["expiring_before"],
                "query": data["q"],
            }
        return selectors.device_model_list(user=self.request.user, **filters)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            filter_form=self.filter_form,
            querystring=querystring_without_page(self.request),
            version_actions=VERSIONS.actions(self.request.user, None),
        )
        return context


class DeviceModelDetailView(PolicyRequiredMixin, DetailView):
    policy = DEVICE_MODELS
    template_name = "cpl/device_model_detail.html"
    context_object_name = "device_model"

    def get_object(self, queryset=None):
        user = self.request.user
        models = DEVICE_MODELS.visible(user).select_related("manufacturer")
        return DEVICE_MODELS.get_or_404(
            user,
            self.kwargs["pk"],
            queryset=models.prefetch_related("certificates__superseded_by"),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, model = self.request.user, self.object
        context["history"] = selectors.object_history("cpl.devicemodel", model.pk)
        context["certificates"] = selectors.certificate_history(model.certificates.all())
        context["lineage"] = selectors.firmware_lineage(user=user, device_model=model)
        context["change_notices"] = selectors.cpl_change_notices(user=user).filter(
            device_model=model
        )[:50]
        context["actions"] = DEVICE_MODELS.actions(user, model)
        context["removals"] = selectors.removals_as_seen(
            user, model.removals.select_related("removed_by", "relisted_by")
        )
        if model.status == DeviceModel.Status.REMOVED and "relist" not in context["actions"]:
            context["why_not_relist"] = DEVICE_MODELS.why_not(user, "relist", model)
        return context


class RemovedListView(PolicyRequiredMixin, ListView):
    """The removed-entries register: models off the CPL, since when and why, and the SMI
    status the DCC gives their devices."""

    policy = DEVICE_MODELS
    template_name = "cpl/removed_list.html"
    context_object_name = "removals"
    paginate_by = 50

    def get_queryset(self):
        self.include_relisted = self.request.GET.get("show") == "all"
        return selectors.removed_entries(
            user=self.request.user, include_relisted=self.include_relisted
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(include_relisted=self.include_relisted, **kwargs)
        context["removals"] = selectors.removals_as_seen(self.request.user, context["removals"])
        return context


class DeviceModelRelistView(PolicyRequiredMixin, FormView):
    """Re-list a removed device model: a confirmation page with the reason, then the change."""

    policy, policy_action = DEVICE_MODELS, "relist"
    template_name = "cpl/relist.html"
    form_class = RelistForm

    @cached_property
    def device_model(self) -> DeviceModel:
        user = self.request.user
        models = DEVICE_MODELS.visible(user).select_related("manufacturer")
        model = DEVICE_MODELS.get_or_404(
            user, self.kwargs["pk"], queryset=models.prefetch_related("certificates")
        )
        DEVICE_MODELS.require(user, "relist", model)  # not removed, or no valid certificates: 409
        return model

    def get_context_data(self, **kwargs):
        model = self.device_model
        return super().get_context_data(
            device_model=model,
            removal=model.removals.filter(relisted_at__isnull=True).first(),
            # A referral of the removal still before the Authority (cpl.hooks, from governance).
            pending_referrals=hooks.pending_removal_referrals(model),
            certificates=selectors.current_certificates(model.certificates.all()).values(),
            **kwargs,
        )

    def form_valid(self, form):
        with form.submitted_once(self.request.user) as submission:
            services.device_model_relist(
                actor=self.request.user,
                model=self.device_model,
                reason=form.cleaned_data["reason"],
            )
            submission.result_url = reverse("cpl:device-model", args=[self.device_model.pk])
        messages.success(
            self.request,
            f"{self.device_model} is re-listed on the CPL. The DCC has a CPL change notice; "
            "the change goes out in the next published CPL version.",
        )
        return redirect("cpl:device-model", pk=self.device_model.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class CertificateDetailView(PolicyRequiredMixin, DetailView):
    policy = CERTIFICATES
    template_name = "cpl/certificate_detail.html"
    context_object_name = "certificate"

    def get_object(self, queryset=None):
        user = self.request.user
        certificates = (
            CERTIFICATES.visible(user)
            .select_related("superseded_by")
            .prefetch_related("device_models__manufacturer")
        )
        return CERTIFICATES.get_or_404(user, self.kwargs["pk"], queryset=certificates)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        actions = CERTIFICATES.actions(self.request.user, self.object)
        context["actions"] = actions
        context["history"] = selectors.object_history("cpl.assurancecertificate", self.object.pk)
        # Re-certification is recorded from a device model's page (certificate_add): offered
        # to who may record certificates, on a CPA certificate that may be superseded.
        models = list(self.object.device_models.all())
        if (
            models
            and not supersede_refusal(self.object)
            and DEVICE_MODELS.can(self.request.user, "record_certificate", models[0])
        ):
            context["recertify_url"] = (
                reverse("cpl:certificate-add", args=[models[0].pk])
                + f"?supersedes={self.object.pk}"
            )
        context["supersedes"] = self.object.supersedes.order_by("-expiry", "-pk")
        if "view_cases" in actions:
            context["cases"] = self.object.cases.all()
        if "record_event" in actions:
            context.setdefault("form", CertificateEventForm())
        else:
            context.pop("form", None)
        return context

    def post(self, request, *args, **kwargs):
        # Who may record events at all: 403. The certificate's state is checked by the service
        # below: a page that was out of date answers 409 with the certificate as it is now.
        CERTIFICATES.require(request.user, "record_event", None)
        self.object = self.get_object()
        if not CERTIFICATES.can(request.user, "record_event", self.object):
            return self.changed_meanwhile()
        form = CertificateEventForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        ask = self.confirmation(request, form.cleaned_data)
        if ask:
            return ask
        try:
            result = services.certificate_record_event(
                actor=request.user,
                certificate=self.object,
                event=form.cleaned_data["event"],
                on=form.cleaned_data["on"],
                reason=form.cleaned_data["reason"],
            )
        except (TransitionNotAllowed, ConcurrentTransition):
            return self.changed_meanwhile()
        text = f"{self.object} recorded as {self.object.get_status_display().lower()}."
        if self.object.awaits_ssc_decision:
            text += (
                " It is flagged for the SSC's risk-based decision; the CPL is unchanged. Open a "
                "case on it from the dashboard or this page."
            )
        elif result.removed:
            text += f" {result.removed} device model(s) removed from the CPL."
        messages.success(request, text)
        return redirect(request.path)

    def confirmation(self, request, data):
        certificate = self.object
        event = {"withdraw": "Withdrawal", "cancel": "Cancellation"}[data["event"]]
        # SMETS1 entries need no certificate (an EPC entry keeps them): only SMETS2 ones leave.
        models = certificate.device_models.filter(
            status=DeviceModel.Status.LISTED, smets_generation__in=CPA_ROUTE_GENERATIONS
        ).count()
        if certificate.kind == certificate.Kind.CPA:
            then = "The SSC is alerted to open a case; the CPL stays as it is until its decision."
        elif models == 0:
            then = "No device model leaves the CPL: none of its listed models needs it."
        elif models == 1:
            then = (
                "Its listed device model leaves the CPL at once, with a CPL change notice to "
                "the DCC."
            )
        else:
            then = (
                f"Its {models} listed device models leave the CPL at once, with a CPL change "
                "notice to the DCC."
            )
        return confirmation_page(
            request,
            caption=str(certificate),
            title=f"Record this {event.lower()}?",
            details=[
                ("Certificate", str(certificate)),
                ("Event", event),
                ("Date", f"{data['on'].day} {data['on']:%B %Y}"),
                ("Reason", data["reason"]),
            ],
            warning=f"A recorded {event.lower()} cannot be undone. {then}",
            button=f"Record the {event.lower()}",
            cancel_url=request.path,
        )

    def changed_meanwhile(self):
        messages.error(
            self.request,
            "This certificate changed while you were looking at it. "
            "Check its status and try again.",
        )
        self.object = self.get_object()
        return self.render_to_response(self.get_context_data(), status=409)


class CertificateAddView(PolicyRequiredMixin, FormView):
    policy, policy_action = DEVICE_MODELS, "record_certificate"
    template_name = "cpl/certificate_add.html"
    form_class = CertificateAddForm

    @cached_property
    def device_model(self) -> DeviceModel:
        user = self.request.user
        models = DEVICE_MODELS.visible(user).select_related("manufacturer")
        model = DEVICE_MODELS.get_or_404(user, self.kwargs["pk"], queryset=models)
        DEVICE_MODELS.require(user, "record_certificate", model)
        return model

    def get_context_data(self, **kwargs):
        return super().get_context_data(device_model=self.device_model, **kwargs)

    def get_form_kwargs(self):
        # Re-certification: the CPA certificates of this model a new one may supersede.
        supersedable = [
            c
            for c in self.device_model.certificates.filter(kind="cpa", superseded_by=None)
            if not supersede_refusal(c)
        ]
        return {
            **super().get_form_kwargs(),
            "supersedable": supersedable,
            "cpa_route": on_cpa_route(self.device_model),
        }

    def get_initial(self):
        chosen = self.request.GET.get("supersedes", "")
        return {"supersedes": chosen, "kind": "cpa"} if chosen.isdigit() else {}

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        try:
            with form.submitted_once(self.request.user) as submission:
                data.pop(form.TOKEN_FIELD)
                certificate = services.certificate_add(
                    actor=self.request.user, device_model=self.device_model, **data
                )
                submission.result_url = reverse("cpl:device-model", args=[self.device_model.pk])
        except ValueError as exc:
            form.add_error("number", str(exc))
            return self.render_to_response(self.get_context_data(form=form), status=400)
        self.device_model.refresh_from_db()
        messages.success(
            self.request,
            f"{certificate} recorded. The device model is "
            f"{self.device_model.get_status_display().lower()}.",
        )
        return redirect("cpl:device-model", pk=self.device_model.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ImportView(PolicyRequiredMixin, FormView):
    policy, policy_action = IMPORTS, "import"
    template_name = "cpl/import.html"
    form_class = CPLImportForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        imports = IMPORTS.visible(self.request.user).select_related("uploaded_by")
        context["recent_imports"] = imports[:10]
        return context

    def form_valid(self, form):
        with form.submitted_once(self.request.user) as submission:
            job = cpl_import_submit(actor=self.request.user, upload=form.cleaned_data["file"])
            submission.result_url = reverse("cpl:import-detail", args=[job.pk])
        messages.success(
            self.request,
            f"{job.file_name} received. It is checked and merged now; this page shows the "
            "result, and nothing changes on the CPL if any row is refused.",
        )
        return redirect("cpl:import-detail", pk=job.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ImportDetailView(PolicyRequiredMixin, DetailView):
    policy = IMPORTS
    context_object_name = "job"

    def get_object(self, queryset=None):
        return IMPORTS.get_or_404(self.request.user, self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        user = self.request.user
        return super().get_context_data(
            actions=IMPORTS.actions(user, self.object),
            version_actions=VERSIONS.actions(user, None),
            **kwargs,
        )

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return ["cpl/_import_status.html"]
        return ["cpl/import_detail.html"]


def _version_rows(pk: int) -> list[dict]:
    """A version's rows, read only when its export is not cached (they are the large part)."""
    return CPLVersion.objects.values_list("rows", flat=True).get(pk=pk)


def version_or_404(user, number: int, action: str = "view"):
    """A published version by its number; a number the user may not see answers 404."""
    versions = VERSIONS.visible(user).select_related("published_by").defer("rows")
    version = get_object_or_404(versions, number=number)
    VERSIONS.require(user, action, version)
    return version


class VersionListView(PolicyRequiredMixin, ListView):
    policy = VERSIONS
    template_name = "cpl/version_list.html"
    context_object_name = "versions"
    paginate_by = 25

    def get_queryset(self):
        return VERSIONS.visible(self.request.user).select_related("published_by").defer("rows")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["actions"] = VERSIONS.actions(self.request.user, None)
        return context


class VersionDetailView(PolicyRequiredMixin, DetailView):
    policy = VERSIONS
    template_name = "cpl/version_detail.html"
    context_object_name = "version"

    def get_object(self, queryset=None):
        return version_or_404(self.request.user, self.kwargs["number"])

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            actions=VERSIONS.actions(self.request.user, self.object), **kwargs
        )


class VersionPublishView(PolicyRequiredMixin, View):
    policy, policy_action = VERSIONS, "publish"

    def post(self, request):
        latest = CPLVersion.objects.order_by("-number").first()
        ask = confirmation_page(
            request,
            title=f"Publish CPL version {latest.number + 1 if latest else 1}?",
            details=[
                ("Latest published version", f"{latest.number}, {latest.published_at:%-d %B %Y}")
            ]
            if latest
            else None,
            warning="The version goes to the DCC and to every reader of the CPL; a published "
            "version cannot be withdrawn.",
            button="Publish the version",
            cancel_url=reverse("cpl:version-list"),
        )
        if ask:
            return ask
        try:
            version = services.cpl_version_publish(actor=request.user)
        except services.NothingToPublish as exc:
            messages.error(request, str(exc))
            return redirect("cpl:version-list")
        counts = version.diff_counts
        messages.success(
            request,
            f"Version {version.number} published: {counts['added']} added, "
            f"{counts['removed']} removed, {counts['status_changed']} "
            f"status changes. The DCC and every reader of the CPL now read this version.",
        )
        return redirect("cpl:version-detail", number=version.number)


# Rendered exports are kept this long; their key names the content, so they are never stale.
EXPORT_CACHE_SECONDS = 24 * 60 * 60
EXPORT_CHUNK = 256 * 1024


def _chunks(content: bytes):
    for start in range(0, len(content), EXPORT_CHUNK):
        yield content[start : start + EXPORT_CHUNK]


def _rendered_and_cached(parts, key: str):
    """Stream the parts as they are made and, once the last has gone out, keep the whole for
    the next download of the same content (a download broken off is not kept)."""
    kept = []
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        kept.append(data)
        yield data
    cache.set(key, b"".join(kept), EXPORT_CACHE_SECONDS)


def export_response(rows, fmt: str, filename: str, meta: dict, content_key: str = "", layout=None):
    """An attachment download of rows in the exchange format, streamed as it is written.

    `content_key` names the content (a published version's hash, or the current register's
    stamp): the same content is then served from the cache instead of being rendered again.
    `rows` may be a callable, called only when the content is not cached; `layout` (columns,
    sheet, JSON key: exchange.ExportLayout) is the register's unless given."""
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format")
    key = f"cpl-export:{fmt}:{content_key}" if content_key else ""
    cached_content = cache.get(key) if key else None
    if cached_content is not None:
        body = _chunks(cached_content)
    else:
        rows = rows() if callable(rows) else rows
        if fmt == "csv":
            parts = exchange.write_csv(rows, layout)
        elif fmt == "json":
            parts = exchange.write_json(rows, meta, layout)
        else:  # xlsx: openpyxl writes a whole file, which is spooled and sent in chunks
            spool = tempfile.TemporaryFile()
            exchange.write_xlsx(rows, spool, layout)
            spool.seek(0)
            if not key:
                response = FileResponse(spool, content_type=EXPORT_FORMATS[fmt])
                response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
                return response
            parts = iter(lambda: spool.read(EXPORT_CHUNK), b"")
        body = _rendered_and_cached(parts, key) if key else parts
    response = StreamingHttpResponse(body, content_type=EXPORT_FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


class VersionDownloadView(PolicyRequiredMixin, View):
    policy, policy_action = VERSIONS, "export"

    def get(self, request, number: int, fmt: str):
        version = version_or_404(request.user, number, "export")
        meta = {
            "cpl_version": version.number,
            "published_at": version.published_at.isoformat(),
            "content_hash": version.content_hash,
        }
        # Published versions are immutable: their exports are cached by the content hash.
        return export_response(
            lambda: _version_rows(version.pk),
            fmt,
            f"cpl-version-{version.number}",
            meta,
            content_key=f"version-{version.number}-{version.content_hash}-"
            f"{version.published_at.timestamp()}",
        )


class RegisterExportView(PolicyRequiredMixin, View):
    policy, policy_action = VERSIONS, "export"

    def get(self, request, fmt: str):
        now = timezone.now()
        meta = {"cpl_version": None, "exported_at": now.isoformat()}
        stamp = now.strftime("%Y%m%d-%H%M")
        return export_response(
            selectors.register_rows_streamed,
            fmt,
            f"cpl-current-{stamp}",
            meta,
            content_key=f"current-{selectors.register_stamp()}",
        )


class ChangeNoticeListView(PolicyRequiredMixin, ListView):
    """CPL change notices: for the SSC and for the DCC, who sets the devices' SMI status."""

    policy = CHANGE_NOTICES
    template_name = "cpl/change_list.html"
    context_object_name = "notices"
    paginate_by = 50

    def get_queryset(self):
        return selectors.cpl_change_notices(user=self.request.user)


class InventoryImportView(PolicyRequiredMixin, FormView):
    """Runs in the request: extracts up to INVENTORY_UPLOAD_MAX_BYTES stream through quickly
    (about 800,000 rows a second); larger ones go through `manage.py import_inventory`."""

    policy, policy_action = INVENTORY, "import"
    template_name = "cpl/inventory.html"
    form_class = InventoryImportForm

    def get_context_data(self, **kwargs):
        snapshots = INVENTORY.visible(self.request.user).select_related("imported_by")
        return super().get_context_data(snapshots=snapshots[:10], **kwargs)

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        upload.seek(0)
        try:
            with form.submitted_once(self.request.user) as submission:
                summary = inventory_import(
                    actor=self.request.user,
                    binary=upload,
                    file_name=upload.name,
                    file_sha256=file_sha256(upload),
                    as_of=form.cleaned_data["as_of"],
                )
                submission.result_url = reverse("cpl:inventory")
        except ExchangeFileRejected as rejected:
            return self.render_to_response(
                self.get_context_data(form=form, rejected=rejected), status=400
            )
        messages.success(
            self.request,
            f"Inventory as of {summary.as_of:%-d %B %Y} imported: "
            f"{summary.devices:,} devices of {summary.rows:,} rows "
            f"in {summary.pairs} (device model, supplier) pairs.",
        )
        return redirect("cpl:inventory")

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)
