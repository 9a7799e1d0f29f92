"""The Flask application: thin blueprints over the dsl, compiler and (later) engine rooms.

``create_app(config=None)`` builds an app for an instance; tests pass a config dict.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
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

    from app.api import dsl_routes

    app.register_blueprint(dsl_routes.bp)

    # Live events, webhooks and cron schedules (app.api.live, app.api.webhooks); needs the engine if any.
    from app.api import live, webhooks

    app.register_blueprint(live.bp)
    app.register_blueprint(webhooks.bp)
    if app.extensions.get("wasmflow.engine") is not None:
        webhooks.install_triggers(app, app.extensions["wasmflow.engine"])

    _install_error_handlers(app)
    return app


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(WasmflowError)
    def _wasmflow_error(err: WasmflowError):
        return jsonify({"error": err.to_dict()}), err.http_status

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
        return jsonify(body), err.code or 500

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error")
        return jsonify({"error": {"kind": "fatal", "code": "internal", "message": "internal server error"}}), 500
