"""A hand-written guest for the toolchain tests: calls clock-now and log-write, and can fail on demand.

Input {"name": ...} -> {"hello", "at", "runtime"}; {"mode": ...} picks a failure: "fail" (Err from run),
"clock" (time.time(), traps under stub WASI), "random" (os.urandom), "loop" (never ends), "raise" (an
uncaught Python exception).
"""

import json

import wasmflow_guest
import wit_world
from componentize_py_types import Err
from wit_world.imports import clock_now, log_write


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> str:
        data = json.loads(input)
        mode = data.get("mode")
        if mode == "fail":
            raise Err(json.dumps({"code": "asked_to_fail", "message": "the input asked to fail"}))
        if mode == "clock":
            import time

            return json.dumps({"t": time.time()})
        if mode == "random":
            import os

            return os.urandom(4).hex()
        if mode == "loop":
            n = 0
            while True:
                n += 1
        if mode == "raise":
            raise ValueError("an uncaught guest exception")
        try:
            now = json.loads(clock_now.call(json.dumps({"node": "greet"})))
        except Err as e:
            raise Err(
                json.dumps({"code": "host_error", "message": "clock.now failed", "cause": json.loads(e.value)})
            ) from None
        log_write.call(json.dumps({"level": "info", "message": "hello " + data.get("name", "")}))
        return json.dumps({"hello": data.get("name"), "at": now["iso"], "runtime": wasmflow_guest.VERSION})
