"""Headers for the HTML pages of the authorisation server (login, consent, launch picker).

A strict Content-Security-Policy: no scripts, no styles from elsewhere, no framing, forms posting
only to this server (and, for consent, to the app's redirect URI, which browsers check on the
redirect after the POST). Pages are never cached: they carry CSRF tokens and personal choices.
"""

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{extra}; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def strict_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Give the response of an HTML view the strict CSP and no-store headers."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        redirect_origin = _origin(getattr(request, "csp_redirect_uri", ""))
        response["Content-Security-Policy"] = _CSP.format(
            extra=f" {redirect_origin}" if redirect_origin else ""
        )
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    return wrapped
