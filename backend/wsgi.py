"""WSGI entry point for gunicorn and other WSGI servers."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup(set_prefix=False)

from backend.handlers import SiteHandler  # noqa: E402  (needs the apps loaded)

application = SiteHandler()
