import tempfile

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import DetailView, FormView, ListView
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from portal.models import AuditEvent, Organisation
from portal.permissions import PortalPermissionRequiredMixin
from portal.roles import Role

from . import exchange, selectors, services
from .exchange import ExchangeFileRejected
from .forms import (
    CertificateAddForm,
    CertificateEventForm,
    CPLImportForm,
    InventoryImportForm,
    RegisterFilterForm,
)
from .imports import cpl_import_submit
from .inventory import inventory_import
from .models import AssuranceCertificate, CPLImport, CPLVersion, DeviceModel, InventorySnapshot
from .services import file_sha256

EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


class RegisterAccessMixin(PortalPermissionRequiredMixin):
    permission_required = "cpl.view_devicemodel"


class RegisterView(RegisterAccessMixin, ListView):
    template_name = "cpl/register.html"
    context_object_name = "device_models"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = RegisterFilterForm(self.request.GET or None)
        filters = {}
        if self.filter_form.is_valid():
            data = self.filter_form.cleaned_data
            filters = {
                "device_type": data["device_type"],
                "status": data["status"],
                "manufacturer_id": data["manufacturer"].pk if data["manufacturer"] else None,
                "expiring_before": data["expiring_before"],
                "query": data["q"],
            }
        return selectors.device_model_list(**filters)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for model in context["device_models"]:
            model.current_certificates = selectors.current_certificates(model.certificates.all())
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(filter_form=self.filter_form, querystring=query.urlencode())
        return context


class DeviceModelDetailView(RegisterAccessMixin, DetailView):
    template_name = "cpl/device_model_detail.html"
    context_object_name = "device_model"

    def get_queryset(self):
        return DeviceModel.objects.select_related("manufacturer").prefetch_related("certificates")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        model = self.object
        context["history"] = AuditEvent.objects.filter(
            object_type="cpl.devicemodel", object_id=str(model.pk)
        ).order_by("-seq")[:100]
        context["change_notices"] = model.change_notices.select_related("created_by")[:50]
        context["can_record"] = self.request.user.has_perm("cpl.record_certificate_event")
        return context


class CertificateDetailView(RegisterAccessMixin, DetailView):
    template_name = "cpl/certificate_detail.html"
    context_object_name = "certificate"
    queryset = AssuranceCertificate.objects.prefetch_related("device_models__manufacturer")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["history"] = AuditEvent.objects.filter(
            object_type="cpl.assurancecertificate", object_id=str(self.object.pk)
        ).order_by("-seq")
        if self.request.user.is_ssc:
            context["cases"] = self.object.cases.all()
        if self.request.user.has_perm("cpl.record_certificate_event") and self.object.is_valid:
            context.setdefault("form", CertificateEventForm())
        return context

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if not request.user.has_perm("cpl.record_certificate_event"):
            raise PermissionDenied
        form = CertificateEventForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            result = services.certificate_record_event(
                actor=request.user,
                certificate=self.object,
                event=form.cleaned_data["event"],
                on=form.cleaned_data["on"],
                reason=form.cleaned_data["reason"],
            )
        except (TransitionNotAllowed, ConcurrentTransition):
            messages.error(
                request,
                "This certificate changed while you were looking at it. "
                "Check its status and try again.",
            )
            return redirect(request.path)
        text = f"{self.object} recorded as {self.object.get_status_display().lower()}."
        if self.object.kind == AssuranceCertificate.Kind.CPA:
            text += " It is flagged for the SSC's risk-based decision; the CPL is unchanged."
        elif result.suspended:
            text += f" {result.suspended} device model(s) suspended from the CPL."
        messages.success(request, text)
        return redirect(request.path)


class CertificateAddView(RegisterAccessMixin, FormView):
    permission_required = "cpl.record_certificate_event"
    template_name = "cpl/certificate_add.html"
    form_class = CertificateAddForm

    @cached_property
    def device_model(self) -> DeviceModel:
        return get_object_or_404(
            DeviceModel.objects.select_related("manufacturer"), pk=self.kwargs["pk"]
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(device_model=self.device_model, **kwargs)

    def form_valid(self, form):
        try:
            certificate = services.certificate_add(
                actor=self.request.user, device_model=self.device_model, **form.cleaned_data
            )
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


class ImportView(RegisterAccessMixin, FormView):
    permission_required = "cpl.import_cpl"
    template_name = "cpl/import.html"
    form_class = CPLImportForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["recent_imports"] = CPLImport.objects.select_related("uploaded_by")[:10]
        return context

    def form_valid(self, form):
        job = cpl_import_submit(actor=self.request.user, upload=form.cleaned_data["file"])
        return redirect("cpl:import-detail", pk=job.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ImportDetailView(RegisterAccessMixin, DetailView):
    permission_required = "cpl.import_cpl"
    model = CPLImport
    context_object_name = "job"

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return ["cpl/_import_status.html"]
        return ["cpl/import_detail.html"]


class VersionListView(RegisterAccessMixin, ListView):
    template_name = "cpl/version_list.html"
    context_object_name = "versions"
    paginate_by = 25

    def get_queryset(self):
        return CPLVersion.objects.select_related("published_by").defer("rows")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_publish"] = self.request.user.has_perm("cpl.publish_cplversion")
        return context


class VersionDetailView(RegisterAccessMixin, DetailView):
    template_name = "cpl/version_detail.html"
    context_object_name = "version"
    slug_field = slug_url_kwarg = "number"

    def get_queryset(self):
        return CPLVersion.objects.select_related("published_by").defer("rows")


class VersionPublishView(RegisterAccessMixin, View):
    permission_required = "cpl.publish_cplversion"

    def post(self, request):
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
            f"status changes.",
        )
        return redirect("cpl:version-detail", number=version.number)


def export_response(rows, fmt: str, filename: str, meta: dict):
    """An attachment download of rows in the exchange format."""
    if fmt == "csv":
        response = StreamingHttpResponse(exchange.write_csv(rows), content_type=EXPORT_FORMATS[fmt])
    elif fmt == "json":
        response = StreamingHttpResponse(
            exchange.write_json(rows, meta), content_type=EXPORT_FORMATS[fmt]
        )
    elif fmt == "xlsx":
        spool = tempfile.TemporaryFile()
        exchange.write_xlsx(rows, spool)
        spool.seek(0)
        response = FileResponse(spool, content_type=EXPORT_FORMATS[fmt])
    else:
        raise Http404("Unknown export format")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


class VersionDownloadView(RegisterAccessMixin, View):
    def get(self, request, number: int, fmt: str):
        version = get_object_or_404(CPLVersion, number=number)
        meta = {
            "cpl_version": version.number,
            "published_at": version.published_at.isoformat(),
            "content_hash": version.content_hash,
        }
        return export_response(version.rows, fmt, f"cpl-version-{version.number}", meta)


class RegisterExportView(RegisterAccessMixin, View):
    def get(self, request, fmt: str):
        now = timezone.now()
        meta = {"cpl_version": None, "exported_at": now.isoformat()}
        stamp = now.strftime("%Y%m%d-%H%M")
        return export_response(selectors.register_rows(), fmt, f"cpl-current-{stamp}", meta)


class ChangeNoticeListView(PortalPermissionRequiredMixin, ListView):
    """CPL change notices: for the SSC and for the DCC, who sets the devices' SMI status."""

    permission_required = "cpl.view_cplchangenotice"
    template_name = "cpl/change_list.html"
    context_object_name = "notices"
    paginate_by = 50

    def has_permission(self):
        user = self.request.user
        if not super().has_permission():
            return False
        if user.has_role(Role.OTHER_PARTY) and not user.is_ssc:
            return (
                user.organisation is not None
                and user.organisation.party_type == Organisation.PartyType.DCC
            )
        return True

    def get_queryset(self):
        return selectors.cpl_change_notices()


class InventoryImportView(PortalPermissionRequiredMixin, FormView):
    """Runs in the request: extracts up to INVENTORY_UPLOAD_MAX_BYTES stream through quickly
    (about 800,000 rows a second); larger ones go through `manage.py import_inventory`."""

    permission_required = "cpl.import_inventory"
    template_name = "cpl/inventory.html"
    form_class = InventoryImportForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            snapshots=InventorySnapshot.objects.select_related("imported_by")[:10], **kwargs
        )

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        upload.seek(0)
        try:
            summary = inventory_import(
                actor=self.request.user,
                binary=upload,
                file_name=upload.name,
                file_sha256=file_sha256(upload),
                as_of=form.cleaned_data["as_of"],
            )
        except ExchangeFileRejected as rejected:
            return self.render_to_response(
                self.get_context_data(form=form, rejected=rejected), status=400
            )
        messages.success(
            self.request,
            f"Inventory as of {summary.as_of:%d %B %Y} imported: "
            f"{summary.devices:,} devices of {summary.rows:,} rows "
            f"in {summary.pairs} (device model, supplier) pairs.",
        )
        return redirect("cpl:inventory")

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)
