"""The Flask application: thin blueprints over the dsl, compiler and engine rooms.

``create_app(config=None)`` builds an app for an instance; tests pass a config dict. Each app owns one
``Engine`` (``app.extensions["wasmflow.engine"]``) that executes runs; ``ENGINE_POLL: False`` turns off its
background pick-up of due runs (tests), ``ENGINE_POLL_SECONDS`` sets its tick, and
``app.extensions["wasmflow.close"]()`` stops it (also at exit). ``DRAFT_PRECOMPILE: False`` turns off the
background compile of each saved valid draft.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from app.config import Settings
from app.errors import WasmflowError


def create_app(config: dict[str, Any] | None = None) -> Flask:
    config = dict(config or {})
    settings: Settings = config.pop("SETTINGS", None) or Settings.load(config.pop("INSTANCE", "instance"))
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_document_bytes, JSON_SORT_KEYS=False)
    app.config.update(config)
    app.extensions["wasmflow.settings"] = settings
    from app.api import guard  # Host and Origin checks before any route (DNS rebinding, cross-site pages)

    guard.install(app)
    from app.api import access  # sign-in, tokens, roles (on with WASMFLOW_AUTH=1)

    access.install(app)
    trusted = int(app.config.get("TRUSTED_PROXIES") or os.environ.get("WASMFLOW_TRUSTED_PROXIES") or 0)
    if trusted:  # behind N reverse proxies: their X-Forwarded-For/-Proto/-Host say who and what was asked
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted, x_host=trusted)
    _start_engine(app, settings)

    from app.api import artifacts, dsl_routes, openapi, runs, secrets, workflows

    app.register_blueprint(dsl_routes.bp)
    app.register_blueprint(dsl_routes.probes)  # /healthz, /readyz
    app.register_blueprint(workflows.bp)
    app.register_blueprint(runs.bp)
    app.register_blueprint(artifacts.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(secrets.bp)

    from app.api import approvals  # approve / reject waiting approval nodes

    app.register_blueprint(approvals.bp)

    # Live events, webhooks and cron schedules (app.api.live, app.api.webhooks); needs the engine if any.
    from app.api import live, webhooks

    app.register_blueprint(live.bp)
    app.register_blueprint(webhooks.bp)
    if app.extensions.get("wasmflow.engine") is not None:
        webhooks.install_triggers(app, app.extensions["wasmflow.engine"])

    from app.api import editor  # last: its catch-all must not shadow an API route

    app.register_blueprint(editor.bp)

    _install_error_handlers(app)
    return app


def _start_engine(app: Flask, settings: Settings) -> None:
    """One engine per app, with the real world services; closed once by ``wasmflow.close`` or at exit."""
    from app.engine.engine import Engine
    from app.runtime.wiring import world_services

    http, secrets = world_services(settings)
    engine = Engine(
        settings,
        http=http,
        secrets=secrets,
        poll=bool(app.config.get("ENGINE_POLL", True)),
        poll_seconds=float(app.config.get("ENGINE_POLL_SECONDS", 0.5)),
    )
    app.extensions["wasmflow.engine"] = engine
    lock = threading.Lock()
    closed: list[bool] = []

    def close() -> None:
        with lock:
            if closed:
                return
            closed.append(True)
        from app.api import live

        engine.stop_accepting()  # executing runs hand back at their next host call; /readyz says 503
        live.stop_feed(app)  # first: open streams end now (1001, reconnect), not after the runs' hand-back
        pool = app.extensions.pop("wasmflow.compiler", None)
        if pool is not None:
            pool.shutdown()
        engine.close()
        if http is not None:
            http.close()

    app.extensions["wasmflow.close"] = close
    atexit.register(close)


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(WasmflowError)
    def _wasmflow_error(err: WasmflowError):
        body = err.to_dict()
        if "field" in err.details:  # every 4xx names the place: hoist it next to the code
            body["field"] = str(err.details["field"])
        return jsonify({"error": body}), err.http_status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        # JSON everywhere, never an HTML error page.
        body = {
            "error": {
                "kind": "user" if (err.code or 500) < 500 else "fatal",
                "code": err.name.lower().replace(" ", "_"),
                "message": err.description,
            }
        }
        if err.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            body["error"]["message"] = f"the request body is larger than the limit of {limit:,} bytes"
            body["error"].update(field="body", details={"limit_bytes": limit})
        elif err.code == 405:
            body["error"]["field"] = "method"
            body["error"]["message"] = f"{request.method} is not allowed on {request.path}"
        elif err.code == 404:
            body["error"]["field"] = "path"
            body["error"]["message"] = f"no route {request.path}"
        resp = jsonify(body)
        if err.code == 405 and getattr(err, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp, err.code or 500

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error")
        return jsonify({"error": {"kind": "fatal", "code": "internal", "message": "internal server error"}}), 500
