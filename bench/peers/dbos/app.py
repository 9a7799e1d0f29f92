"""The DBOS side of bench/peers.py: a DBOS Transact (Python) app behind the standard library's threaded HTTP server.

Run with the peers venv: PORT=... DBOS_DATABASE_URL=postgresql://... EFFECT_URL=http://127.0.0.1:<port>/effect
python app.py. Workflows (each node a @DBOS.step, checkpointed in PostgreSQL):
  three:  shape -> label                                   (workload a)
  effect: shape -> POST to the side-effect server -> label (workload b)
Routes (JSON bodies):
  POST /run/<wf>     {"i": n}  run the workflow to completion in the request thread, answer its result
  POST /start/<wf>   {"i": n}  DBOS.start_workflow, answer {"workflow_id"} at once (202)
  GET  /result/<id>            await that workflow's handle (in-process future), answer its result
  GET  /healthz
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dbos import DBOS, DBOSConfig

EFFECT_URL = os.environ.get("EFFECT_URL", "")

config: DBOSConfig = {
    "name": "wasmflow-bench-peers",
    "system_database_url": os.environ["DBOS_DATABASE_URL"],
    "log_level": "WARNING",
}
DBOS(config=config)


@DBOS.step()
def shape(i: int) -> dict:
    return {"id": i, "total": i * 2}


@DBOS.step()
def label(s: dict) -> dict:
    return {"label": "order-" + str(s["id"]), "big": s["total"] > 10}


@DBOS.step()
def call(s: dict) -> dict:
    body = json.dumps({"key": "order-" + str(s["id"]), "id": s["id"], "total": s["total"]}).encode()
    req = urllib.request.Request(EFFECT_URL, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@DBOS.workflow()
def three(i: int) -> dict:
    return label(shape(i))


@DBOS.workflow()
def effect(i: int) -> dict:
    s = shape(i)
    call(s)
    return label(s)


WORKFLOWS = {"three": three, "effect": effect}
HANDLES: dict = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args) -> None:  # no access log
        pass

    def _send(self, status: int, obj) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == ["healthz"]:
            return self._send(200, {"ok": True})
        if len(parts) == 2 and parts[0] == "result":
            with LOCK:
                handle = HANDLES.pop(parts[1], None)
            if handle is None:
                handle = DBOS.retrieve_workflow(parts[1])  # another process, or asked twice: poll the database
            return self._send(200, handle.get_result())
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        body = self._body()
        if len(parts) == 2 and parts[1] in WORKFLOWS and parts[0] in ("run", "start"):
            wf = WORKFLOWS[parts[1]]
            if parts[0] == "run":
                return self._send(200, wf(body["i"]))
            handle = DBOS.start_workflow(wf, body["i"])
            wid = handle.get_workflow_id()
            with LOCK:
                HANDLES[wid] = handle
            return self._send(202, {"workflow_id": wid})
        self._send(404, {"error": "not found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog (the default 5 drops connects when 32 clients open at once)


if __name__ == "__main__":
    DBOS.launch()
    server = Server(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print(f"dbos app listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        DBOS.destroy()
