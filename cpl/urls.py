from django.urls import path

from . import combination_views, emergency_views, views

app_name = "cpl"

urlpatterns = [
    path("", views.RegisterView.as_view(), name="register"),
    path("models/<int:pk>/", views.DeviceModelDetailView.as_view(), name="device-model"),
    path(
        "models/<int:pk>/certificates/new/",
        views.CertificateAddView.as_view(),
        name="certificate-add",
    ),
    path("models/<int:pk>/relist/", views.DeviceModelRelistView.as_view(), name="relist"),
    path("removed/", views.RemovedListView.as_view(), name="removed-list"),
    path("certificates/<int:pk>/", views.CertificateDetailView.as_view(), name="certificate"),
    path("import/", views.ImportView.as_view(), name="import"),
    path("import/<int:pk>/", views.ImportDetailView.as_view(), name="import-detail"),
    path("export/<str:fmt>/", views.RegisterExportView.as_view(), name="export"),
    path("versions/", views.VersionListView.as_view(), name="version-list"),
    path("versions/publish/", views.VersionPublishView.as_view(), name="version-publish"),
    path("versions/<int:number>/", views.VersionDetailView.as_view(), name="version-detail"),
    path(
        "versions/<int:number>/download/<str:fmt>/",
        views.VersionDownloadView.as_view(),
        name="version-download",
    ),
    path("changes/", views.ChangeNoticeListView.as_view(), name="change-list"),
    path("inventory/", views.InventoryImportView.as_view(), name="inventory"),
    # SMETS1 emergency CPL entries
    path("emergency/", emergency_views.EmergencyListView.as_view(), name="emergency-list"),
    path("emergency/new/", emergency_views.EmergencySubmitView.as_view(), name="emergency-submit"),
    path("emergency/<int:pk>/", emergency_views.EmergencyDetailView.as_view(), name="emergency"),
    path(
        "emergency/<int:pk>/<str:step>/",
        emergency_views.EmergencyActionView.as_view(),
        name="emergency-action",
    ),
    path(
        "emergency/<int:pk>/evidence/<int:document_pk>/",
        emergency_views.EmergencyEvidenceDownloadView.as_view(),
        name="emergency-evidence",
    ),
    # SMETS1 Eligible and Pending Product Combinations
    path(
        "combinations/",
        combination_views.CombinationListView.as_view(),
        name="combination-list",
    ),
    path(
        "combinations/<int:pk>/",
        combination_views.CombinationDetailView.as_view(),
        name="combination",
    ),
    path(
        "combinations/export/<str:fmt>/",
        combination_views.CombinationExportView.as_view(),
        name="combination-export",
    ),
    path(
        "combinations/import/",
        combination_views.CombinationImportView.as_view(),
        name="combination-import",
    ),
    path(
        "combinations/eligibility/",
        combination_views.EligibilityView.as_view(),
        name="combination-eligibility",
    ),
    path(
        "combinations/eligibility.json",
        combination_views.EligibilityJSONView.as_view(),
        name="combination-eligibility-json",
    ),
]
