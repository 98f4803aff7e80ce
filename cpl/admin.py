from django.contrib import admin

from portal.admin_site import ReadOnlyAdmin

from .models import (
    AssuranceCertificate,
    CPLChangeNotice,
    CPLVersion,
    DeviceModel,
    Manufacturer,
    ProductCombination,
)

# The CPL changes only through imports, certificate services and decisions (audited, with
# change notices): the admin shows it, never edits it. Imports have no admin page at all.


@admin.register(Manufacturer)
class ManufacturerAdmin(ReadOnlyAdmin):
    list_display = ["manufacturer_id", "name"]
    search_fields = ["manufacturer_id", "name"]


@admin.register(DeviceModel)
class DeviceModelAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "device_type", "status", "date_added"]
    list_filter = ["device_type", "status"]
    list_select_related = ["manufacturer"]
    search_fields = ["model_id", "firmware_version", "manufacturer__name"]


@admin.register(AssuranceCertificate)
class AssuranceCertificateAdmin(ReadOnlyAdmin):
    list_display = ["number", "kind", "issued", "expiry", "status"]
    list_filter = ["kind", "status"]
    search_fields = ["number"]
    raw_id_fields = ["device_models"]


@admin.register(CPLVersion)
class CPLVersionAdmin(ReadOnlyAdmin):
    list_display = ["number", "published_at", "published_by", "row_count", "content_hash"]
    exclude = ["rows"]


@admin.register(CPLChangeNotice)
class CPLChangeNoticeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "device_model", "from_status", "to_status"]
    list_select_related = ["device_model__manufacturer"]


@admin.register(ProductCombination)
class ProductCombinationAdmin(ReadOnlyAdmin):
    list_display = ["reference", "on_list", "csp", "first_added_to_epc", "subset_of"]
    list_filter = ["on_list", "csp"]
    search_fields = ["reference", "csp"]
    raw_id_fields = ["device_models", "subset_of"]
