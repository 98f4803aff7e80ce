"""The portal's error pages, in its own layout, with a helpful message and never a traceback.

`portal.urls` names these as Django's handler400 and handler500. A database that went away
mid-request (a dropped connection, a failover, the server restarting) is a 503 with a retry
hint rather than a 500: it is the service that is unavailable, and the request's transaction
was rolled back with the connection. 500 and 503 render without the request, so a page about a
broken database never asks the database who is signed in.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30

PLAIN = {
    400: "There is a problem with what was sent; nothing was changed.",
    413: "The file is too large; nothing was uploaded.",
    500: "Sorry, there is a problem with the service. Try again later.",
    503: "Sorry, the service is unavailable. Try again in a few minutes.",
}


def error_page(status: int, request=None, **context) -> HttpResponse:
    """`templates/<status>.html`; plain text if even the template fails (an error page must
    not raise)."""
    try:
        content = loader.get_template(f"{status}.html").render(context, request)
        content_type = "text/html; charset=utf-8"
    except Exception:
        logger.exception("The %s page could not be rendered", status)
        content = context.get("reason") or PLAIN[status]
        content_type = "text/plain; charset=utf-8"
    return HttpResponse(content, status=status, content_type=content_type)


def database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError))


def bad_request(request, exception):
    return error_page(400)


def server_error(request):
    if database_unavailable(sys.exc_info()[1]):
        response = error_page(503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return error_page(500)
