"""`/account/apps`, the SMART management_endpoint page: a signed-in person sees their connected
apps and revokes one with a plain form post, under a strict Content-Security-Policy."""

import re
from typing import Any

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken

from tests.access.personas import app, login, token


@pytest.fixture
def ada(db: None) -> Any:
    return login("ada", kind="patient", fhir_id="ada")


def test_the_page_needs_a_signed_in_person(db: None) -> None:
    response = Client().get("/account/apps")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_lists_apps_and_revokes_one_through_the_form(ada: Any) -> None:
    step = app("Step counter")
    text = token(ada, "patient/Observation.rs", patient_id="ada", application=step)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ada)
    page = browser.get("/account/apps")
    assert page.status_code == 200
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert "script" not in page.content.decode().lower()
    html = page.content.decode()
    assert "Step counter" in html
    assert "patient/Observation.rs" in html
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert csrf is not None
    action = f"/account/apps/{step.pk}/revoke"
    assert f'action="{action}"' in html
    done = browser.post(action, {"csrfmiddlewaretoken": csrf.group(1)})
    assert done.status_code == 303
    assert not AccessToken.objects.filter(token=text).exists()
    assert "No apps have access" in browser.get(done["Location"]).content.decode()


def test_a_revoke_without_the_csrf_token_is_refused(ada: Any) -> None:
    step = app("Step counter")
    text = token(ada, "patient/*.rs", patient_id="ada", application=step)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ada)
    assert browser.post(f"/account/apps/{step.pk}/revoke").status_code == 403
    assert AccessToken.objects.filter(token=text).exists()
