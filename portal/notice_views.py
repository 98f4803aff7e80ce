from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.views import View
from django.views.generic import DetailView, ListView

from .models import Notice, NoticeDelivery
from .notice_policy import NOTICE_DELIVERIES, NOTICES
from .notices import notice_acknowledge
from .policies import policy_for


class InboxView(LoginRequiredMixin, ListView):
    template_name = "portal/inbox.html"
    context_object_name = "deliveries"
    paginate_by = 50

    def get_queryset(self):
        return NOTICE_DELIVERIES.visible(self.request.user).select_related("notice")


# The step a formal notice offers (it has no settling `action`: its reader acknowledges it),
# asked of its object's policy before the button is shown: a decision notice's "Refer the
# decision" once the Party has referred it, or its window has closed, leads nowhere.
FORMAL_NOTICE_STEP = {Notice.Kind.DECISION: "refer"}


def _may_still_open(user, notice) -> tuple[bool, bool]:
    """Whether the notice's object is still the reader's to see (a member recused since a
    ballot opened no longer sees the ballot), and whether its next step is still theirs to
    take: its policy decides both."""
    about = notice.about
    if about is None:
        return True, True
    try:
        policy = policy_for(about)
    except LookupError:
        return True, True
    if not policy.can(user, "view", about):
        return False, False
    step = notice.action or FORMAL_NOTICE_STEP.get(notice.kind)
    return True, not step or policy.can(user, step, about)


class InboxDetailView(LoginRequiredMixin, View):
    def get_delivery(self, pk):
        # Another recipient's delivery is a 404: it does not reveal that the notice exists.
        return NOTICE_DELIVERIES.get_or_404(
            self.request.user, pk, NoticeDelivery.objects.select_related("notice", "organisation")
        )

    def get(self, request, pk):
        delivery = self.get_delivery(pk)
        may_see, may_act = _may_still_open(request.user, delivery.notice)
        return render(
            request,
            "portal/inbox_detail.html",
            {"delivery": delivery, "may_see": may_see, "may_act": may_act},
        )

    def post(self, request, pk):
        notice_acknowledge(actor=request.user, delivery=self.get_delivery(pk))
        messages.success(request, "Notice acknowledged. The SSC can see that you have read it.")
        return redirect("inbox-detail", pk=pk)


class SSCOnlyMixin(LoginRequiredMixin):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            NOTICES.require(request.user, "view", None)
        return super().dispatch(request, *args, **kwargs)


class NoticeListView(SSCOnlyMixin, ListView):
    template_name = "portal/notice_list.html"
    context_object_name = "notices"
    paginate_by = 50

    def get_queryset(self):
        # Counted per notice in subqueries, which PostgreSQL runs for the page's 50 rows only
        # (after the sort and limit); a join and GROUP BY counted every notice's deliveries.
        return (
            NOTICES.visible(self.request.user)
            .annotate(
                recipients_total=_deliveries_counted(),
                acknowledged=_deliveries_counted(acknowledged_at__isnull=False),
                delivered=_deliveries_counted(delivered_at__isnull=False),
            )
            .order_by("-created_at", "-id")
        )


def _deliveries_counted(**conditions):
    """The number of the notice's deliveries meeting the conditions."""
    deliveries = (
        NoticeDelivery.objects.filter(notice=OuterRef("pk"), **conditions)
        .order_by()
        .values("notice")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(deliveries), 0)


class NoticeDetailView(SSCOnlyMixin, DetailView):
    template_name = "portal/notice_detail.html"
    context_object_name = "notice"

    def get_queryset(self):
        return NOTICES.visible(self.request.user).prefetch_related(
            "recipients", "deliveries__recipient", "deliveries__organisation"
        )
