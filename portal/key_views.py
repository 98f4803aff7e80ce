"""The portal's public signing key, for anyone to check a referral pack's manifest signature
or an audit checkpoint with: open, no sign-in, GET only. Included by portal.urls."""

from django.http import HttpResponse
from django.urls import path
from django.views import View
from django.views.generic import TemplateView

from . import signing


def _grouped(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


class SigningKeyView(TemplateView):
    template_name = "portal/signing_key.html"
    http_method_names = ["get", "head"]

    def get_context_data(self, **kwargs):
        retired = [
            {"pem": signing.public_key_pem(key), "fingerprint": _grouped(signing.fingerprint(key))}
            for key in signing.retired_public_keys()
        ]
        return super().get_context_data(
            pem=signing.public_key_pem(),
            fingerprint=_grouped(signing.fingerprint()),
            retired=retired,
            **kwargs,
        )


class SigningKeyDownloadView(View):
    http_method_names = ["get", "head"]

    def get(self, request, *args, **kwargs):
        pems = [signing.public_key_pem()]
        if request.GET.get("include") == "retired":
            pems += [signing.public_key_pem(key) for key in signing.retired_public_keys()]
        response = HttpResponse("".join(pems), content_type="application/x-pem-file")
        response["Content-Disposition"] = 'attachment; filename="portal-signing-key.pem"'
        return response


urlpatterns = [
    path("", SigningKeyView.as_view(), name="signing-key"),
    path("portal-signing-key.pem", SigningKeyDownloadView.as_view(), name="signing-key-pem"),
]
