from django.contrib import admin

from .models import AssuranceCertificate, CPLChangeNotice, CPLVersion, DeviceModel, Manufacturer


@admin.register(Manufacturer)
class ManufacturerAdmin(admin.ModelAdmin):
    list_display = ["manufacturer_id", "name"]
    search_fields = ["manufacturer_id", "name"]


@admin.register(DeviceModel)
class DeviceModelAdmin(admin.ModelAdmin):
    # Status is a protected state field: it changes only through services, never here.
    list_display = ["__str__", "device_type", "status", "date_added"]
    list_filter = ["device_type", "status"]
    list_select_related = ["manufacturer"]
    readonly_fields = ["status", "suspension_basis"]
    search_fields = ["model_id", "firmware_version", "manufacturer__name"]


@admin.register(AssuranceCertificate)
class AssuranceCertificateAdmin(admin.ModelAdmin):
    list_display = ["number", "kind", "issued", "expiry", "status"]
    list_filter = ["kind", "status"]
    readonly_fields = ["status", "status_date", "status_reason"]
    search_fields = ["number"]
    raw_id_fields = ["device_models"]


@admin.register(CPLVersion)
class CPLVersionAdmin(admin.ModelAdmin):
    list_display = ["number", "published_at", "published_by", "row_count", "content_hash"]
    exclude = ["rows"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CPLChangeNotice)
class CPLChangeNoticeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "device_model", "from_status", "to_status"]
    list_select_related = ["device_model__manufacturer"]
