"""The login page (`/accounts/login/`): an ordinary HTML form with `username` and `password`.

Repeated failures are throttled per client address and per submitted username, counted the same
way whether or not the username exists, and answered with the same page and status, so the form
never tells which usernames exist. Passwords are checked by Django (Argon2 in production; Django
also hashes a dummy password for unknown users so timing does not tell either).
"""

import hashlib
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator

from access.conf import access_settings
from access.pages import strict_page
from access.ratelimit import client_address, count_hit, peek, rate_limited, reset

_BUCKET = "login-failures"


def _who(request: HttpRequest) -> list[str]:
    username = request.POST.get("username", "").strip().lower()
    digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:32]
    return [f"addr:{client_address(request)}", f"user:{digest}"]


def _window() -> int:
    return int(access_settings()["LOGIN_LOCKOUT_SECONDS"])


def _locked_for(request: HttpRequest) -> int:
    """Seconds until this address/username may try again; 0 when not locked."""
    allowed = access_settings()["LOGIN_FAILURES_ALLOWED"]
    waits = [peek(bucket=_BUCKET, who=who, window=_window()) for who in _who(request)]
    return max((retry for hits, retry in waits if hits >= allowed), default=0)


@method_decorator([strict_page, rate_limited("login")], name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "access/login.html"
    redirect_authenticated_user = False

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        locked = _locked_for(request)
        if locked:
            return self._locked(locked)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        for who in _who(self.request):
            count_hit(bucket=_BUCKET, who=who, window=_window())
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        # Only the username's counter: a success must not wipe an address's record of guessing.
        reset(bucket=_BUCKET, who=_who(self.request)[1], window=_window())
        return super().form_valid(form)

    def _locked(self, retry_after: int) -> HttpResponse:
        response = self.render_to_response(self.get_context_data(locked=True), status=429)
        response["Retry-After"] = str(retry_after)
        return response
