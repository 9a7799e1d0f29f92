"""Build the world-facing services of a process (HTTP client, secret store) from its settings."""

from __future__ import annotations

from typing import Any

from app.config import Settings


def world_services(settings: Settings) -> tuple[Any, Any]:
    """(http client, secret store) for ``settings``; a wrong or missing secret key stops here, clearly."""
    from app.runtime.http import HttpClient, HttpPolicy
    from app.runtime.secrets import open_secret_store
    from app.store import open_database

    secrets = open_secret_store(open_database(settings.database_url), settings.instance_dir)
    secrets.check_key()
    return HttpClient(HttpPolicy.from_env()), secrets
