"""The WSGI application of a production server process (``gunicorn app.wsgi:app``; ``wasmflow serve`` runs
it): one app, with its engine, per worker process, for the instance named by ``WASMFLOW_INSTANCE``."""

from __future__ import annotations

import os

from app.api import create_app
from app.config import Settings

app = create_app({"SETTINGS": Settings.load(os.environ.get("WASMFLOW_INSTANCE", "instance"))})
