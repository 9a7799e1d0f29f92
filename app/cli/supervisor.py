"""The supervisor of ``wasmflow serve --processes N``, run as a script (standard library only, so it holds a
few MB rather than the app's ~70): it binds the port once and keeps N server processes accepting on it.

    python app/cli/supervisor.py HOST PORT N INSTANCE -- CHILD_ARGV...

Each child gets ``--listen-fd FD`` appended (the shared socket) and ``WASMFLOW_WAKE_DIR`` (a private folder
where the children's live feeds poke each other after commits; ``app.engine.feed``). A child that dies is
started again; every child dies with the supervisor (PR_SET_PDEATHSIG, kill -9 included); SIGINT or SIGTERM
stops them all (SIGINT to each, then SIGKILL after 10 s).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

WAKE_DIR_ENV = "WASMFLOW_WAKE_DIR"  # app.engine.feed.WAKE_DIR_ENV (a test keeps them equal)
STOP_SECONDS = 10.0


def _die_with_parent() -> None:
    """In a child, before exec: the kernel kills it when the supervisor dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def supervise(host: str, port: int, processes: int, instance: str, child_argv: list[str]) -> int:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    sock.listen(512)
    sock.set_inheritable(True)
    fd = sock.fileno()
    argv = [*child_argv, "--listen-fd", str(fd)]
    wake_dir = tempfile.mkdtemp(prefix="wasmflow-wake-")
    env = {**os.environ, WAKE_DIR_ENV: wake_dir}

    def start() -> subprocess.Popen:
        return subprocess.Popen(argv, pass_fds=(fd,), env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509

    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = [start() for _ in range(processes)]
    print(
        f"wasmflow serving http://{host}:{sock.getsockname()[1]} (instance {instance}, {processes} processes)",
        flush=True,
    )
    try:
        while not stopping:
            for i, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    print(f"server process {child.pid} exited ({child.returncode}); starting another", flush=True)
                    children[i] = start()
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        end = time.monotonic() + STOP_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        sock.close()
        shutil.rmtree(wake_dir, ignore_errors=True)
    return 0


def main(args: list[str]) -> int:
    split = args.index("--")
    host, port, processes, instance = args[:split]
    return supervise(host, int(port), int(processes), instance, args[split + 1 :])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
