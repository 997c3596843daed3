"""Settings for the test suite: the real settings with a few overrides that make tests fast and
self-contained (see pyproject.toml, `[tool.pytest.ini_options]`).

The database still comes from `DATABASE_URL`: SQLite by default, PostgreSQL when it names one
(pytest-django then creates and drops `test_<name>`, with a `_gw<n>` suffix per xdist worker).
Tasks always run in-process and the cache is local memory, so tests never need Redis.
"""

import os

# settings.py fails fast without a SECRET_KEY when DEBUG is off; tests get a fixed, fake one and
# the same DEBUG=1 defaults as `make run`. An explicit environment value still wins.
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from backend.settings import *  # noqa: E402, F403

# The production hashers are deliberately slow; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"

CACHES = {"default": {"BACKEND": "access.local_cache.LocalCache"}}
