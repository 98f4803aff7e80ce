from django.urls import path

from . import plan_views, record_views, referral_views, views

app_name = "governance"

urlpatterns = [
    path("cases/", views.CaseListView.as_view(), name="case-list"),
    path("cases/open/<int:certificate_pk>/", views.CaseOpenView.as_view(), name="case-open"),
    path("cases/<int:case_pk>/", views.CaseDetailView.as_view(), name="case"),
    path(
        "cases/<int:case_pk>/actions/<slug:action>/",
        views.CaseActionView.as_view(),
        name="case-action",
    ),
    path(
        "cases/<int:case_pk>/evidence/new/",
        views.EvidenceUploadView.as_view(),
        name="evidence-upload",
    ),
    path(
        "cases/<int:case_pk>/evidence/<int:document_pk>/",
        views.EvidenceDownloadView.as_view(),
        name="evidence-download",
    ),
    path(
        "cases/<int:case_pk>/evidence/<int:document_pk>/access/",
        views.EvidenceGrantView.as_view(),
        name="evidence-grant",
    ),
    path("cases/<int:case_pk>/conflict/", views.ConflictDeclareView.as_view(), name="conflict"),
    path("cases/<int:case_pk>/acting-chair/", views.ActingChairView.as_view(), name="acting-chair"),
    path(
        "cases/<int:case_pk>/experts/new/", views.ExpertInviteView.as_view(), name="expert-invite"
    ),
    path("cases/<int:case_pk>/comments/", views.CommentView.as_view(), name="comment"),
    path("cases/<int:case_pk>/ballots/new/", views.BallotOpenView.as_view(), name="ballot-open"),
    path("cases/<int:case_pk>/decision/", views.DecisionIssueView.as_view(), name="decision-issue"),
    path(
        "cases/<int:case_pk>/representations/new/",
        record_views.RepresentationSubmitView.as_view(),
        name="representation-submit",
    ),
    path(
        "cases/<int:case_pk>/representations/documents/<int:document_pk>/",
        record_views.RepresentationDownloadView.as_view(),
        name="representation-download",
    ),
    path(
        "cases/<int:case_pk>/recommendation/",
        record_views.RecommendationView.as_view(),
        name="recommendation",
    ),
    path(
        "cases/<int:case_pk>/party-summary/",
        record_views.PartySummaryView.as_view(),
        name="party-summary",
    ),
    path(
        "cases/<int:case_pk>/party-summary/approve/",
        record_views.PartySummaryApproveView.as_view(),
        name="party-summary-approve",
    ),
    path("ballots/<int:ballot_pk>/", views.BallotDetailView.as_view(), name="ballot"),
    path("ballots/<int:ballot_pk>/vote/", views.VoteView.as_view(), name="vote"),
    path("ballots/<int:ballot_pk>/voters/", views.BallotVotersView.as_view(), name="ballot-voters"),
    path("ballots/<int:ballot_pk>/close/", views.BallotCloseView.as_view(), name="ballot-close"),
    path(
        "ballots/<int:ballot_pk>/casting-vote/",
        views.CastingVoteView.as_view(),
        name="casting-vote",
    ),
    path("characteristics/", views.CharacteristicsListView.as_view(), name="characteristics"),
    path(
        "characteristics/<int:pk>/",
        views.CharacteristicsDownloadView.as_view(),
        name="characteristics-download",
    ),
    path("plans/", plan_views.PlanListView.as_view(), name="plan-list"),
    path("plans/<int:pk>/", plan_views.PlanDetailView.as_view(), name="plan"),
    path(
        "plans/<int:pk>/versions/<int:plan_pk>/",
        plan_views.PlanDownloadView.as_view(),
        name="plan-download",
    ),
    path("policy/", plan_views.PolicyView.as_view(), name="policy"),
    path("policy/<int:pk>/", plan_views.PolicyDownloadView.as_view(), name="policy-download"),
    path("referrals/", referral_views.ReferralListView.as_view(), name="referral-list"),
    path(
        "referrals/new/<int:case_pk>/",
        referral_views.ReferralLodgeView.as_view(),
        name="referral-lodge",
    ),
    path("referrals/<int:pk>/", referral_views.ReferralDetailView.as_view(), name="referral"),
    path(
        "referrals/<int:pk>/documents/<int:document_pk>/",
        referral_views.ReferralDocumentDownloadView.as_view(),
        name="referral-document",
    ),
    path(
        "referrals/<int:pk>/packs/<int:version>/",
        referral_views.PackDownloadView.as_view(),
        name="pack-download",
    ),
]
