"""A standalone SMART patient launch against the real server, driven by a SMART client library
nobody here wrote (Python `fhirclient` from PyPI), through the login and consent HTML forms exactly
as a headless browser would post them; then a read and a paged search with the token it got.
"""

import json
import os
import re
import shutil
import subprocess
import uuid
from html import unescape
from urllib.parse import urljoin

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

from tests.e2e.live import REPO, Server, manage

pytestmark = pytest.mark.e2e

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never fetched: we read the code off the redirect
JS_DIR = REPO / "tests" / "e2e" / "js"
PASSWORD = "e2e-password-long-1"


def _seed(server: Server) -> str:
    """A patient with five observations, written with the operator's system token."""
    headers = {**server.auth, "Content-Type": "application/fhir+json"}
    patient = {"resourceType": "Patient", "name": [{"family": "Launch", "given": ["Ada"]}]}
    created = requests.post(
        f"{server.base_url}/Patient", json.dumps(patient), headers=headers, timeout=10
    )
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    for value in range(5):
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "valueQuantity": {
                "value": 60 + value,
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
        }
        response = requests.post(
            f"{server.base_url}/Observation", json.dumps(observation), headers=headers, timeout=10
        )
        assert response.status_code == 201, response.text
    return patient_id


def _register(server: Server, patient_id: str) -> tuple[str, str]:
    database_url = server.database.url
    shown = json.loads(
        manage(
            "register_client",
            "--name",
            "E2E SMART app",
            "--redirect-uri",
            REDIRECT_URI,
            "--public",
            "--scope",
            "launch/patient openid fhirUser offline_access patient/*.rs",
            database_url=database_url,
        )
    )
    username = f"ada-{uuid.uuid4().hex[:8]}"
    manage(
        "create_account",
        "--username",
        username,
        "--password",
        PASSWORD,
        "--patient",
        patient_id,
        database_url=database_url,
    )
    return shown["client_id"], username


def _form(html: str) -> dict[str, object]:
    fields: dict[str, object] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = unescape(value.group(1)) if value else ""
    fields["granted"] = [
        unescape(v) for v in re.findall(r'type="checkbox" name="granted" value="([^"]+)"', html)
    ]
    return fields


def _browse(authorize_url: str, username: str) -> str:
    """Sign in and approve, as a browser would; return the redirect URL carrying the code."""
    with requests.Session() as browser:
        login = browser.get(authorize_url, timeout=10)  # follows to the login page
        assert 'name="username"' in login.text
        form = {**_form(login.text), "username": username, "password": PASSWORD}
        consent = browser.post(login.url, data=form, headers={"Referer": login.url}, timeout=10)
        assert consent.status_code == 200, consent.text[:300]
        assert "E2E SMART app" in consent.text
        approved = browser.post(
            consent.url,
            data={**_form(consent.text), "allow": "on"},
            headers={"Referer": consent.url},
            allow_redirects=False,
            timeout=10,
        )
        assert approved.status_code == 302, approved.text[:300]
        return urljoin(consent.url, approved.headers["Location"])


def test_standalone_patient_launch_with_pkce_then_read_and_page(fhir_server: Server):
    patient_id = _seed(fhir_server)
    client_id, username = _register(fhir_server, patient_id)
    smart = smart_client.FHIRClient(
        settings={
            "app_id": client_id,
            "api_base": fhir_server.base_url,
            "redirect_uri": REDIRECT_URI,
            "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
        }
    )

    callback = _browse(smart.authorize_url, username)
    smart.handle_callback(callback)

    assert smart.ready
    assert smart.patient_id == patient_id
    assert smart.server.auth.refresh_token
    assert Patient.read(patient_id, smart.server).name[0].family == "Launch"
    search = Observation.where(struct={"subject": f"Patient/{patient_id}", "_count": "2"})
    pages = list(search.perform_iter(smart.server))
    assert len(pages) == 3
    values = sorted(
        o.valueQuantity.value for page in pages for o in (e.resource for e in page.entry or [])
    )
    assert values == [60, 61, 62, 63, 64]


def test_the_token_endpoint_refuses_a_code_without_its_verifier(fhir_server: Server):
    patient_id = _seed(fhir_server)
    client_id, username = _register(fhir_server, patient_id)
    smart = smart_client.FHIRClient(
        settings={
            "app_id": client_id,
            "api_base": fhir_server.base_url,
            "redirect_uri": REDIRECT_URI,
            "scope": "launch/patient patient/*.rs",
        }
    )
    callback = _browse(smart.authorize_url, username)
    found = re.search(r"code=([^&]+)", callback)
    assert found is not None, callback
    code = found.group(1)

    token_url = fhir_server.base_url.replace("/fhir", "/oauth/token")
    response = requests.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
        },
        timeout=10,
    )

    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"


def _node_modules() -> None:
    if (JS_DIR / "node_modules" / "fhirclient").exists():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")), reason="needs Node and npm")
def test_standalone_patient_launch_with_the_npm_fhirclient(fhir_server: Server):
    _node_modules()
    patient_id = _seed(fhir_server)
    client_id, username = _register(fhir_server, patient_id)
    env = {
        **os.environ,
        "FHIR_BASE": fhir_server.base_url,
        "CLIENT_ID": client_id,
        "USERNAME": username,
        "PASSWORD": PASSWORD,
        "REDIRECT_URI": REDIRECT_URI,
        "SCOPE": "launch/patient openid fhirUser patient/*.rs",
    }

    done = subprocess.run(
        ["node", "smart_launch.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["patient"] == patient_id
    assert summary["family"] == "Launch"
    assert summary["pkce"] is True
    assert summary["pages"] == 3
    assert summary["values"] == [60, 61, 62, 63, 64]
