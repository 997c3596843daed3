"""The WSGI application: Django's handler, with a shorter middleware chain for the FHIR API.

Every /fhir request is authenticated by its bearer token and answered in JSON, so the session,
CSRF, authentication, messages and clickjacking middleware have nothing to do there, yet on a read
by id they cost about a tenth of the CPU. Requests under /fhir go through a handler built from
FHIR_MIDDLEWARE; everything else (login and consent pages, the app API) through MIDDLEWARE. The
plainest reads by id and searches skip even that (`api.fhir.direct`).
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from api.fhir import direct


class _FhirHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.FHIR_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def is_fhir_path(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


class SiteHandler:
    """Dispatch on the path: a plain read by id or search answered directly (`api.fhir.direct`),
    the rest of /fhir to the lean handler, everything else to Django's full chain."""

    def __init__(self) -> None:
        self.site = WSGIHandler()
        self.fhir = _FhirHandler()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not is_fhir_path(environ.get("PATH_INFO", "")):
            return self.site(environ, start_response)
        answered = direct.serve(environ, start_response)
        return answered if answered is not None else self.fhir(environ, start_response)
