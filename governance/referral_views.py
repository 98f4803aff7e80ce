from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from portal.audit import audit_record
from portal.confirm import confirmation_page
from portal.documents import attachment_response
from portal.permissions import PolicyRequiredMixin, PortalPermissionRequiredMixin

from . import policies, referrals, selectors
from .forms import (
    DeterminationForm,
    InformationRequestForm,
    InformationResponseForm,
    ReferralLodgeForm,
    SendPackForm,
)
from .models import Case, InformationRequest, Referral, ReferralPack
from .packs import pack_zip, people_by_username


class ReferralListView(PolicyRequiredMixin, ListView):
    policy = policies.referrals
    template_name = "governance/referral_list.html"
    context_object_name = "referrals"
    paginate_by = 50

    def get_queryset(self):
        return selectors.referrals_for_user(self.request.user)


class ReferralLodgeView(PortalPermissionRequiredMixin, FormView):
    permission_required = "governance.add_referral"
    template_name = "governance/referral_lodge.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            policies.cases.require(request.user, "refer", self.case)
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def case(self) -> Case:
        return selectors.case_for_page(self.request.user, self.kwargs["case_pk"])

    def get_initial(self):
        # Arriving from a refused plan's page or its notice: that refusal is what is referred.
        initial = {"kind": self.request.GET.get("kind", "")}
        if self.request.GET.get("plan", "").isdigit():
            initial["plan_requirement"] = int(self.request.GET["plan"])
        return initial

    def get_form(self, form_class=None):
        return ReferralLodgeForm(**self.get_form_kwargs(), case=self.case, user=self.request.user)

    def get_context_data(self, **kwargs):
        # The window is stated where it governs (local practice: the SEC text sets none).
        window = referrals.referral_window_text(self.case.decision_record.issued_at)
        return super().get_context_data(case=self.case, window_text=window, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        requirement = data["plan_requirement"]
        form.keep_chosen_file()  # a file cannot ride on the confirmation page: its token does
        ask = confirmation_page(
            self.request,
            caption=f"Case {self.case.reference}",
            title="Lodge this referral with the Authority?",
            details=[
                ("Referred", dict(form.fields["kind"].choices).get(data["kind"], "")),
                *([("Remedial plan", f"{requirement.supplier}'s plan")] if requirement else []),
                ("Your grounds", data["grounds"]),
                *(
                    [("Supporting document", form.chosen_file.original_name)]
                    if form.chosen_file
                    else []
                ),
            ],
            warning="Once lodged, the referral goes to the Authority for a final and binding "
            "determination; it cannot be withdrawn in the portal.",
            button="Lodge the referral",
            cancel_url=reverse("governance:case", args=[self.case.pk]),
            carry={"kept_file": form.chosen_file.token} if form.chosen_file else None,
        )
        if ask:
            return ask
        try:
            referral = referrals.referral_lodge(
                actor=self.request.user,
                case=self.case,
                kind=data["kind"],
                grounds=data["grounds"],
                requirement=requirement,
                uploads=[data["document"]] if data["document"] else [],
            )
        except ValidationError as exc:
            gone = getattr(exc, "code", None) == "pending_gone"
            form.add_error("document" if gone else None, " ".join(exc.messages))
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Referral {referral.reference} lodged. The SSC Secretariat sends its pack to the "
            f"Authority by {referral.pack_due_date:%-d %B %Y}; you will get a notice of the "
            "Authority's determination.",
        )
        return redirect("governance:referral", pk=referral.pk)

    def form_invalid(self, form):
        form.keep_chosen_file()
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ReferralDetailView(LoginRequiredMixin, TemplateView):
    template_name = "governance/referral_detail.html"
    # POSTed `action` → the policy action it needs.
    POST_ACTIONS = {
        "send_pack": "send_pack",
        "request_information": "request_information",
        "respond": "provide_information",
        "determine": "determine",
        "close": "close",
    }

    @cached_property
    def referral(self) -> Referral:
        return selectors.referral_for_page(self.request.user, self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        user, referral = self.request.user, self.referral
        actions = policies.referrals.actions(user, referral)
        case = referral.case
        record = getattr(case, "decision_record", None)
        context = {
            "referral": referral,
            "case": case,
            "actions": actions,
            "record": record,
            "documents": policies.referrals.documents_for(user, referral),
            **self._refused_plan(user, referral),
            **(self._record_in_words(record) if "view_deliberation" in actions else {}),
            "pack_due_text": referrals.pack_due_text(referral) if referral.pack_due_date else "",
            "packs": list(referral.packs.all()),
            "open_request": next(
                (r for r in referral.information_requests.all() if r.responded_at is None), None
            ),
        }
        if "send_pack" in actions:
            context.setdefault("send_form", SendPackForm(case=case, user=user))
        if "request_information" in actions:
            context.setdefault("request_form", InformationRequestForm())
        if "determine" in actions:
            context.setdefault("determination_form", DeterminationForm())
        if "provide_information" in actions and context["open_request"]:
            context.setdefault("response_form", InformationResponseForm())
        context.update(kwargs)
        return super().get_context_data(**context)

    @staticmethod
    def _refused_plan(user, referral) -> dict:
        """The plan version refused and the SSC's reasons, with links as the plan policy
        allows (the Authority reads the plan itself in the pack)."""
        plan = policies.referrals.refused_plan_for(user, referral)
        if plan is None:
            return {}
        return {
            "refused_plan": plan,
            "plan_page": policies.plan_requirements.can(user, "view", plan.requirement),
            "plan_download": policies.remedial_plans.can(user, "view", plan),
        }

    @staticmethod
    def _record_in_words(record) -> dict:
        """The ballot's votes and the conflicts by people's names and choices' labels."""
        if record is None:
            return {}
        people = people_by_username(
            [v["member"] for v in record.votes] + [c["member"] for c in record.conflicts]
        )
        return {
            "votes_named": [
                (people.get(v["member"], "A member"), v["choice"]) for v in record.votes
            ],
            "conflicts_named": [
                (people.get(c["member"], "A member"), c["reason"]) for c in record.conflicts
            ],
        }

    def post(self, request, pk):
        referral, data = self.referral, request.POST
        action = data.get("action")
        if action not in self.POST_ACTIONS:
            raise Http404
        policies.referrals.require(request.user, self.POST_ACTIONS[action], referral)
        try:
            if action == "send_pack":
                form = SendPackForm(data, case=referral.case, user=request.user)
                if not form.is_valid():
                    return self._invalid(send_form=form)
                disclosed = form.cleaned_data["disclosed"]
                ask = confirmation_page(
                    request,
                    caption=f"Referral {referral.reference}",
                    title="Build and send the pack to the Authority?",
                    details=[
                        (
                            "Evidence disclosed",
                            "\n".join(d.title for d in disclosed) or "None",
                        )
                    ],
                    warning="The Authority receives the pack at once; what it discloses cannot "
                    "be taken back.",
                    button="Build and send the pack",
                    cancel_url=reverse("governance:referral", args=[pk]),
                )
                if ask:
                    return ask
                referrals.referral_send_pack(
                    actor=request.user, referral=referral, disclosed=form.cleaned_data["disclosed"]
                )
                messages.success(
                    request,
                    "The pack is built and sent to the Authority. The Authority determines the "
                    "referral or asks the SSC for more information; you will get a notice if it "
                    "asks.",
                )
            elif action == "request_information":
                form = InformationRequestForm(data)
                if not form.is_valid():
                    return self._invalid(request_form=form)
                referrals.information_request(
                    actor=request.user, referral=referral, **form.cleaned_data
                )
                messages.success(
                    request,
                    "Your request is sent to the SSC. You will get a notice when it answers, with "
                    "a new version of the pack.",
                )
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
                messages.success(
                    request,
                    f"Answer sent; pack version {pack.version} includes it. The Authority now "
                    "determines the referral; you will get a notice of its determination.",
                )
            elif action == "determine":
                form = DeterminationForm(data)
                if not form.is_valid():
                    return self._invalid(determination_form=form)
                outcome = dict(form.fields["outcome"].choices)[form.cleaned_data["outcome"]]
                ask = confirmation_page(
                    request,
                    caption=f"Referral {referral.reference}",
                    title="Record this determination?",
                    details=[
                        ("Determination", outcome),
                        ("Reasons", form.cleaned_data["reasons"]),
                        ("Effective from", f"{form.cleaned_data['effective_date']:%-d %B %Y}"),
                    ],
                    warning="The determination is final and binding: it is applied to the case "
                    "and the CPL and cannot be changed.",
                    button="Record the determination",
                    cancel_url=reverse("governance:referral", args=[pk]),
                )
                if ask:
                    return ask
                determined = referrals.referral_determine(
                    actor=request.user, referral=referral, **form.cleaned_data
                )
                if determined.outcome == Referral.Outcome.OVERTURNED and not (
                    determined.effect_applied_at
                ):
                    effect = (
                        f"It takes effect on {determined.effective_date:%-d %B %Y}, when the "
                        f"portal applies it to the case and the CPL."
                    )
                elif determined.outcome == Referral.Outcome.OVERTURNED:
                    effect = "It has been applied to the case and the CPL."
                else:
                    effect = "The SSC's decision stands."
                messages.success(
                    request,
                    f"Determination recorded. {effect} The referring Party and the SSC "
                    "Secretariat are notified; the secretariat closes the referral.",
                )
            else:
                ask = confirmation_page(
                    request,
                    caption=f"Referral {referral.reference}",
                    title=f"Close referral {referral.reference}?",
                    warning="A closed referral cannot be reopened; the case closes by itself "
                    "once its plans are completed and no referral is open.",
                    button="Close the referral",
                    cancel_url=reverse("governance:referral", args=[pk]),
                )
                if ask:
                    return ask
                referrals.referral_close(actor=request.user, referral=referral)
                messages.success(request, "Referral closed. Nothing more is needed on it.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("governance:referral", pk=pk)

    def _invalid(self, **forms):
        return self.render_to_response(self.get_context_data(**forms), status=400)


class PackDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk, version):
        referral = selectors.referral_for_page(request.user, pk)
        # Packs hold SSC evidence: the Authority, and SSC users who may see all of it.
        policies.referrals.require(request.user, "download_pack", referral)
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


class ReferralDocumentDownloadView(LoginRequiredMixin, View):
    """A document of the referral, for whoever the referral policy lets open it (404 to anyone
    else: they are not told it exists)."""

    def get(self, request, pk, document_pk):
        referral = selectors.referral_for_page(request.user, pk)
        documents = policies.referrals.documents_for(request.user, referral)
        document = next((d for d in documents if d.pk == document_pk), None)
        if document is None:
            raise Http404
        audit_record(
            actor=request.user,
            action="referral.document_downloaded",
            obj=referral,
            after={"document": document.original_name, "sha256": document.sha256},
        )
        return attachment_response(document, folder="referrals")
