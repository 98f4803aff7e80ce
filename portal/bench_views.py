"""`make bench-web`'s ceilings and query counter. Routed and installed only when
settings.BENCH_VIEWS is on (PORTAL_BENCH_VIEWS=1): production never serves them.

- `/bench/trivial/`: a constant page for anyone, through the whole middleware stack.
- `/bench/trivial-auth/`: the same page for a signed-in, second-factor-verified user: session,
  user and device are loaded as for any page; one small template, no other query.
- QueryCountMiddleware: a request with `X-Bench-Count-Queries: 1` gets an `X-Query-Count`
  header with every SQL statement it ran (session and user lookups included).
"""

from django.contrib.auth.views import redirect_to_login
from django.db import connections
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template import Context, Engine
from django.urls import path, reverse

# Compiled once; rendered without the request's context processors (they query).
_PAGE = Engine(autoescape=True).from_string(
    "<!doctype html><title>bench</title><p>{{ greeting }}</p>\n"
)


def trivial(request):
    return HttpResponse(_PAGE.render(Context({"greeting": "Hello"})))


def trivial_auth(request):
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not user.is_verified():
        return redirect(f"{reverse('mfa-verify')}?next={request.get_full_path()}")
    return HttpResponse(_PAGE.render(Context({"greeting": f"Hello {user.get_username()}"})))


urlpatterns = [
    path("trivial/", trivial, name="bench-trivial"),
    path("trivial-auth/", trivial_auth, name="bench-trivial-auth"),
]


class QueryCountMiddleware:
    """First in the stack, so sessions, users and devices are counted too."""

    header = "HTTP_X_BENCH_COUNT_QUERIES"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get(self.header) != "1":
            return self.get_response(request)
        count = 0

        def counter(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connections["default"].execute_wrapper(counter):
            response = self.get_response(request)
            if getattr(response, "streaming", False):
                # Drain here, inside the wrapper, so the rows' queries count too.
                response.streaming_content = [b"".join(response.streaming_content)]
        response["X-Query-Count"] = str(count)
        return response
