"""The deployment files, the settings and the README cannot drift apart.

backend/settings.py is the one place that reads the environment (through `env_*("NAME", ...)`).
Every variable it reads must be documented in README.md's configuration table and wired into the
app services of docker-compose.yml, and neither may name a variable the settings ignore. The
import-linter contracts in pyproject.toml must cover every top-level package.
"""

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")
# Top-level folders that are not importable parts of the application.
NOT_APP_PACKAGES = {"tests", "bench"}


def settings_env_vars() -> set[str]:
    """Names passed to env_str/env_bool/env_int/env_list in backend/settings.py."""
    tree = ast.parse((ROOT / "backend" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.startswith("env_")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def readme_config_vars() -> set[str]:
    """Backticked names in the first column of the table under README.md's "## Configuration"."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Configuration\n(.*?)(?=^## )", text, flags=re.M | re.S)
    assert match, 'README.md has no "## Configuration" section'
    rows = re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", match.group(1), flags=re.M)
    return set(rows)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def app_packages() -> set[str]:
    return {
        init.parent.name
        for init in ROOT.glob("*/__init__.py")
        if init.parent.name not in NOT_APP_PACKAGES
    }


def test_settings_read_some_environment_variables():
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= settings_env_vars()


def test_readme_configuration_table_lists_exactly_the_variables_the_settings_read():
    documented = readme_config_vars()
    read = settings_env_vars()

    assert read - documented == set(), "add these to README.md's configuration table"
    assert documented - read == set(), "README.md documents variables the settings never read"


def test_compose_has_the_production_services():
    services = compose()["services"]

    assert {"postgres", "redis", "web", "worker", "beat", "migrate"} <= set(services)
    assert "python -m backend.serve --host 0.0.0.0 --port 8000" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "backend", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "backend", "beat"]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_service_sets_exactly_the_variables_the_settings_read(service):
    environment = compose()["services"][service]["environment"]
    read = settings_env_vars()

    assert set(environment) - read == set(), "compose sets variables the settings never read"
    assert read - set(environment) == set(), "wire these variables into docker-compose.yml"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_services_run_in_production_mode_on_postgres_and_redis(service):
    environment = compose()["services"][service]["environment"]

    assert environment["DEBUG"] == "0"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_import_linter_covers_every_top_level_package():
    config = pyproject()["tool"]["importlinter"]

    assert set(config["root_packages"]) == app_packages(), (
        "pyproject.toml [tool.importlinter] root_packages must list every top-level package"
    )


@pytest.mark.parametrize(
    ("contract_name", "allowed"),
    [
        ("Only access imports django-oauth-toolkit", {"access"}),
        ("Only fhirstore.fhirmodels imports fhir.resources", set()),
    ],
)
def test_forbidden_import_contracts_cover_every_other_package(contract_name, allowed):
    contracts = pyproject()["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c["name"] == contract_name)

    assert set(contract["source_modules"]) == app_packages() - allowed


def test_layers_contract_names_every_top_level_package():
    contracts = pyproject()["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    named = set(re.findall(r"[a-z_]+", " ".join(layers)))

    assert app_packages() <= named


def test_compose_postgres_compresses_full_page_images_in_the_wal():
    command = compose()["services"]["postgres"]["command"]

    assert command[:1] == ["postgres"]
    assert "wal_compression=lz4" in command
