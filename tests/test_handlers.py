"""The WSGI application sends /fhir through a short middleware chain and the rest through all."""

import io

import pytest

from backend.handlers import SiteHandler, is_fhir_path


def _call(path: str) -> tuple[str, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    answer: dict[str, object] = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(SiteHandler()(environ, start_response))
    return str(answer["status"]), answer["headers"], body  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("path", "fhir"),
    [("/fhir", True), ("/fhir/", True), ("/fhir/Patient/1", True), ("/fhirx", False), ("/", False)],
)
def test_fhir_paths_are_told_apart(path, fhir):
    assert is_fhir_path(path) is fhir


def test_fhir_goes_through_the_short_chain(db):
    status, headers, body = _call("/fhir/metadata")

    assert status.startswith("200")
    assert b'"CapabilityStatement"' in body
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert headers["Content-Length"] == str(len(body))  # and CommonMiddleware
    assert "X-Frame-Options" not in headers  # the page-only middleware does not
    assert "Cookie" not in headers.get("Vary", "")


def test_pages_go_through_the_full_chain(db):
    status, headers, _body = _call("/accounts/login/")

    assert status.startswith("200")
    assert headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in headers.get("Set-Cookie", "")
