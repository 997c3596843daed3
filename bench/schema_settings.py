"""Settings used only to create tables for apps that have no generated migrations yet.

`migrate --run-syncdb` builds tables straight from the models for apps without migrations; this
module marks the project's own apps that way. The server itself always runs `backend.settings`.
"""

from backend.settings import *  # noqa: F403
from backend.settings import INSTALLED_APPS

_OWN_APPS = ("fhirstore", "access", "records", "selfcare", "careteam")
MIGRATION_MODULES = {app: None for app in INSTALLED_APPS if app in _OWN_APPS}
