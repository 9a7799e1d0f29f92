"""The shared runtime's exports: compile a workflow program (the generated module's source) to bytecode
with the guest's own CPython, and run such bytecode, so one runtime component serves every workflow.

The program is compiled and evaluated here, inside the sandbox, never on the host (contract 4). Its
module-level code imports only what the runtime snapshot already holds (``sys.modules`` hits: there are no
files to import from) and defines ``GRAPH`` and ``ERROR_HANDLER``, as a per-workflow component's module does.
Compiling once at compile time keeps CPython's parser and compiler (~10 ms in the sandbox) out of each run.
"""

from __future__ import annotations

import marshal

from .driver import _dumps, _err_type, _run_error, run_workflow

PROGRAM_FILENAME = "workflow_app.py"


def _fail(code: str, message: str):
    return _err_type()(_dumps(_run_error({"code": code, "message": message})))


def compile_program(source: str) -> str:
    """The world's ``compile`` export: the marshalled code object of ``source``, as latin-1 text."""
    try:
        code = compile(source, PROGRAM_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _fail("bad_program", f"the workflow program does not compile: {exc.msg} (line {exc.lineno})") from None
    return marshal.dumps(code).decode("latin-1")


def load_program(program: str) -> dict:
    """The namespace of the program's bytecode (latin-1 text) run as a module."""
    code = marshal.loads(program.encode("latin-1"))
    namespace: dict = {"__name__": "workflow_app", "__file__": PROGRAM_FILENAME}
    exec(code, namespace)  # noqa: S102 - the generated program, inside the sandbox (contract 4)
    return namespace


def run_program(program: str, input_json: str) -> str:
    """The world's ``run`` export: load the program, then run its graph on ``input_json``."""
    try:
        namespace = load_program(program)
        graph = namespace["GRAPH"]
    except Exception as exc:  # a program this runtime cannot load: a structured error, not a trap
        raise _fail("bad_program", f"the workflow program does not load: {type(exc).__name__}: {exc}") from None
    return run_workflow(graph, input_json, error_handler=namespace.get("ERROR_HANDLER"))
