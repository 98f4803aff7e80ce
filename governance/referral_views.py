from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.views.generic import FormView, ListView, TemplateView

from portal.audit import audit_record
from portal.permissions import PortalPermissionRequiredMixin
from portal.roles import Role

from . import permissions, referrals
from .forms import (
    DeterminationForm,
    InformationRequestForm,
    InformationResponseForm,
    ReferralLodgeForm,
    SendPackForm,
)
from .models import Case, InformationRequest, Referral, ReferralPack
from .packs import pack_zip


def referrals_for_user(user):
    """The Authority sees referrals once sent to it; the SSC all; a Party its own."""
    found = Referral.objects.select_related("case", "organisation")
    if not user.has_perm("governance.view_referral"):
        return found.none()
    if user.has_role(Role.AUTHORITY):
        return found.exclude(state=Referral.State.LODGED)
    if user.is_ssc:
        return found
    if user.organisation_id:
        return found.filter(organisation_id=user.organisation_id)
    return found.none()


class ReferralListView(PortalPermissionRequiredMixin, ListView):
    permission_required = "governance.view_referral"
    template_name = "governance/referral_list.html"
    context_object_name = "referrals"
    paginate_by = 50

    def get_queryset(self):
        return referrals_for_user(self.request.user)


class ReferralLodgeView(PortalPermissionRequiredMixin, FormView):
    permission_required = "governance.add_referral"
    template_name = "governance/referral_lodge.html"

    @cached_property
    def case(self) -> Case:
        case = get_object_or_404(Case, pk=self.kwargs["case_pk"])
        if not permissions.can_view_case(self.request.user, case):
            raise Http404
        return case

    def get_form(self, form_class=None):
        return ReferralLodgeForm(**self.get_form_kwargs(), case=self.case, user=self.request.user)

    def get_context_data(self, **kwargs):
        return super().get_context_data(case=self.case, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            referral = referrals.referral_lodge(
                actor=self.request.user,
                case=self.case,
                kind=data["kind"],
                grounds=data["grounds"],
                requirement=data["plan_requirement"],
                uploads=[data["document"]] if data["document"] else [],
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
            return self.form_invalid(form)
        messages.success(self.request, f"Referral {referral.reference} lodged.")
        return redirect("governance:referral", pk=referral.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ReferralDetailView(PortalPermissionRequiredMixin, TemplateView):
    permission_required = "governance.view_referral"
    template_name = "governance/referral_detail.html"

    @cached_property
    def referral(self) -> Referral:
        return get_object_or_404(
            referrals_for_user(self.request.user).prefetch_related(
                "documents",
                "information_requests__documents",
                "packs",
                "case__device_models__manufacturer",
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        user, referral = self.request.user, self.referral
        State = Referral.State
        case = referral.case
        context = {
            "referral": referral,
            "case": case,
            "record": getattr(case, "decision_record", None),
            "packs": list(referral.packs.all()),
            "is_authority": user.has_role(Role.AUTHORITY),
            "open_request": next(
                (r for r in referral.information_requests.all() if r.responded_at is None), None
            ),
        }
        if user.has_role(Role.SECRETARIAT) and referral.state == State.LODGED:
            context.setdefault("send_form", SendPackForm(case=case))
        if user.has_role(Role.AUTHORITY) and referral.state in (
            State.PACK_SENT,
            State.INFORMATION_PROVIDED,
        ):
            context.setdefault("request_form", InformationRequestForm())
            context.setdefault("determination_form", DeterminationForm())
        if user.has_role(Role.SECRETARIAT, Role.CHAIR) and context["open_request"]:
            context.setdefault("response_form", InformationResponseForm())
        context["can_close"] = referral.state == State.DETERMINED and user.has_role(
            Role.AUTHORITY, Role.SECRETARIAT
        )
        context.update(kwargs)
        return super().get_context_data(**context)

    def post(self, request, pk):
        referral, data = self.referral, request.POST
        action = data.get("action")
        try:
            if action == "send_pack":
                form = SendPackForm(data, case=referral.case)
                if not form.is_valid():
                    return self._invalid(send_form=form)
                referrals.referral_send_pack(
                    actor=request.user, referral=referral, disclosed=form.cleaned_data["disclosed"]
                )
                messages.success(request, "The pack is built and sent to the Authority.")
            elif action == "request_information":
                form = InformationRequestForm(data)
                if not form.is_valid():
                    return self._invalid(request_form=form)
                referrals.information_request(
                    actor=request.user, referral=referral, **form.cleaned_data
                )
                messages.success(request, "Your request is sent to the SSC.")
            elif action == "respond":
                form = InformationResponseForm(data, request.FILES)
                if not form.is_valid():
                    return self._invalid(response_form=form)
                open_request = get_object_or_404(
                    InformationRequest, referral=referral, responded_at__isnull=True
                )
                document = form.cleaned_data["document"]
                pack = referrals.information_provide(
                    actor=request.user,
                    request=open_request,
                    response=form.cleaned_data["response"],
                    uploads=[document] if document else [],
                )
                messages.success(request, f"Answer sent; pack version {pack.version} includes it.")
            elif action == "determine":
                form = DeterminationForm(data)
                if not form.is_valid():
                    return self._invalid(determination_form=form)
                referrals.referral_determine(
                    actor=request.user, referral=referral, **form.cleaned_data
                )
                messages.success(request, "Determination recorded and applied.")
            elif action == "close":
                referrals.referral_close(actor=request.user, referral=referral)
                messages.success(request, "Referral closed.")
            else:
                raise Http404
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("governance:referral", pk=pk)

    def _invalid(self, **forms):
        return self.render_to_response(self.get_context_data(**forms), status=400)


class PackDownloadView(PortalPermissionRequiredMixin, TemplateView):
    permission_required = "governance.view_referral"

    def get(self, request, pk, version):
        referral = get_object_or_404(referrals_for_user(request.user), pk=pk)
        if not (request.user.is_ssc or request.user.has_role(Role.AUTHORITY)):
            raise PermissionDenied  # packs hold SSC evidence: the SSC and the Authority only
        pack = get_object_or_404(ReferralPack, referral=referral, version=version)
        stream = pack_zip(pack)
        audit_record(
            actor=request.user,
            action="referral.pack_downloaded",
            obj=referral,
            after={"version": version, "manifest_sha256": pack.manifest_sha256},
        )
        response = StreamingHttpResponse(stream, content_type="application/zip")
        response["Content-Length"] = str(len(stream))
        response["Content-Disposition"] = (
            f'attachment; filename="{referral.reference}-pack-v{version}.zip"'
        )
        response["Cache-Control"] = "private, no-store"
        return response
