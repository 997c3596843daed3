"""Operator commands: register_client and create_account, and the demo logins."""

import io
import json

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import get_application_model

from access.consent import patients_for_proxy
from access.demo import create_demo_logins
from access.models import Account, ClientKeys

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_register_public_client_prints_its_client_id():
    shown = json.loads(
        _run(
            "register_client",
            "--name",
            "Diary",
            "--redirect-uri",
            "https://diary.example/cb",
            "--public",
            "--scope",
            "launch/patient openid patient/*.rs",
        )
    )

    app = get_application_model().objects.get(client_id=shown["client_id"])
    assert "client_secret" not in shown
    assert app.client_type == "public"
    assert app.allowed_origins == "https://diary.example"
    assert app.registered_scope.scope == "launch/patient openid patient/*.rs"


def test_register_confidential_client_prints_its_secret_once():
    shown = json.loads(
        _run(
            "register_client",
            "--name",
            "Portal",
            "--redirect-uri",
            "https://portal.example/cb",
            "--confidential",
            "--scope",
            "openid user/*.rs",
        )
    )

    app = get_application_model().objects.get(client_id=shown["client_id"])
    assert shown["client_secret"]
    assert app.client_secret != shown["client_secret"]  # stored hashed


def test_register_backend_client_with_inline_jwks(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(
        json.dumps({"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b", "kid": "k"}]})
    )

    shown = json.loads(
        _run(
            "register_client",
            "--name",
            "Lab",
            "--backend",
            "--jwks",
            str(jwks),
            "--scope",
            "system/Observation.cruds",
        )
    )

    keys = ClientKeys.objects.get(application__client_id=shown["client_id"])
    assert keys.jwks["keys"][0]["kid"] == "k"


def test_backend_client_with_patient_scopes_is_refused(tmp_path):
    with pytest.raises(CommandError, match="system/"):
        _run(
            "register_client",
            "--name",
            "Lab",
            "--backend",
            "--jwks",
            "https://lab.example/jwks",
            "--scope",
            "patient/*.rs",
        )


def test_create_patient_account_links_the_fhir_identity():
    _run(
        "create_account",
        "--username",
        "ada",
        "--password",
        "a-long-password-1",
        "--patient",
        "pat-1",
    )

    user = authenticate(username="ada", password="a-long-password-1")
    assert user is not None
    assert user.account.fhir_reference == "Patient/pat-1"


def test_create_carer_account_records_the_patients_consent():
    _run(
        "create_account",
        "--username",
        "carer",
        "--password",
        "a-long-password-1",
        "--related-person",
        "rp-1",
        "--for-patient",
        "pat-1",
    )

    assert Account.objects.get(user__username="carer").fhir_reference == "RelatedPerson/rp-1"
    assert patients_for_proxy(related_person_id="rp-1", now=timezone.now()) == ["pat-1"]


def test_carer_without_patient_is_refused():
    with pytest.raises(CommandError, match="for-patient"):
        _run("create_account", "--username", "carer", "--password", "x", "--related-person", "rp-1")


def test_demo_logins_are_idempotent():
    first = create_demo_logins(patient_id="pat-1")
    second = create_demo_logins(patient_id="pat-1")

    assert first == second
    assert first["client_id"] == "demo-app"
    assert Account.objects.count() == 3
