"""The editor build served at ``/``: index never cached, hashed assets immutable and gzipped when the client
accepts it, editor routes fall back to index.html, API paths keep their JSON 404, no build -> a clear 503."""

from __future__ import annotations

import gzip

import pytest


@pytest.fixture
def built(tmp_path):
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "index-abc123.js").write_text("console.log('wasmflow');\n" * 200)
    (root / "assets" / "logo.png").write_bytes(b"\x89PNG fake")
    return root


def test_index_assets_and_editor_routes(make_app, built):
    client = make_app(EDITOR_STATIC_DIR=str(built)).test_client()
    r = client.get("/")
    assert r.status_code == 200 and b"id=root" in r.data and r.headers["Cache-Control"] == "no-cache"
    assert client.get("/w/some-workflow/deep/link").data == r.data  # the editor routes in the browser

    plain = client.get("/assets/index-abc123.js")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    packed = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip" and packed.headers["Vary"] == "Accept-Encoding"
    assert packed.mimetype == "text/javascript"
    assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data) / 10
    png = client.get("/assets/logo.png", headers={"Accept-Encoding": "gzip"})  # already compressed formats: as is
    assert png.data == b"\x89PNG fake" and "Content-Encoding" not in png.headers

    assert client.get("/assets/missing.js").status_code == 404
    assert client.get("/assets/../index.html").status_code == 404
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.get_json()["error"]["field"] == "path"
    assert client.get("/hooks/").status_code in (404, 405)


def test_without_a_build_the_root_says_how_to_make_one(make_app, tmp_path):
    client = make_app(EDITOR_STATIC_DIR=str(tmp_path / "nothing")).test_client()
    r = client.get("/")
    assert r.status_code == 503 and b"npm run build" in r.data
