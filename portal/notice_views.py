from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.views import View
from django.views.generic import DetailView, ListView

from .models import NoticeDelivery
from .notice_policy import NOTICE_DELIVERIES, NOTICES
from .notices import notice_acknowledge
from .policies import policy_for


class InboxView(LoginRequiredMixin, ListView):
    template_name = "portal/inbox.html"
    context_object_name = "deliveries"
    paginate_by = 50

    def get_queryset(self):
        return NOTICE_DELIVERIES.visible(self.request.user).select_related("notice")


def _may_still_open(user, notice) -> bool:
    """The notice's next step is offered only while its object is still the reader's to see (a
    member recused since a ballot opened no longer sees the ballot): its policy decides."""
    about = notice.about
    if about is None:
        return True
    try:
        policy = policy_for(about)
    except LookupError:
        return True
    return policy.can(user, "view", about)


class InboxDetailView(LoginRequiredMixin, View):
    def get_delivery(self, pk):
        # Another recipient's delivery is a 404: it does not reveal that the notice exists.
        return NOTICE_DELIVERIES.get_or_404(
            self.request.user, pk, NoticeDelivery.objects.select_related("notice", "organisation")
        )

    def get(self, request, pk):
        delivery = self.get_delivery(pk)
        return render(
            request,
            "portal/inbox_detail.html",
            {"delivery": delivery, "may_act": _may_still_open(request.user, delivery.notice)},
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
