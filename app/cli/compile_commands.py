"""``wasmflow compile`` and ``wasmflow inspect``."""

from __future__ import annotations

import contextlib
import gzip
import threading
from pathlib import Path

import click

from app.cli.common import echo_json, fail, settings_from
from app.errors import UserError, WasmflowError


def _read(path: str, limit: int) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limit:
            raise UserError(f"{path}: the document is {size:,} bytes; the limit is {limit:,}", code="too_large")
        return p.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@contextlib.contextmanager
def _runtime_progress(root: Path):
    """While the shared runtime is built (once per toolchain, minutes on a slow machine), say so on stderr
    with the step and the elapsed time every second, instead of a silent wait."""
    from app.compiler import runtime, toolchain

    if not toolchain.shared_runtime() or runtime.find(root) is not None:
        yield
        return
    done = threading.Event()

    def tick() -> None:
        while not done.wait(1.0):
            s = runtime.status()
            if s.get("state") == "building":
                click.echo(
                    f"\rbuilding the shared runtime (once per toolchain): {s.get('step')}, "
                    f"{s.get('elapsed_seconds', 0):.0f} s ",
                    err=True,
                    nl=False,
                )

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=2)
        if runtime.find(root) is not None:
            click.echo("\rshared runtime ready" + " " * 50, err=True)


@click.command("compile")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-bundle", is_flag=True, help="Skip the browser bundle (server artifact only).")
@click.pass_context
def compile_cmd(ctx: click.Context, file: str, as_json: bool, no_bundle: bool) -> None:
    """Compile a workflow FILE into a WebAssembly component (a cache hit when unchanged)."""
    from app.compiler import artifacts, open_compiler

    settings = settings_from(ctx)
    try:
        pool = open_compiler(settings)
        with _runtime_progress(pool.store.runtime_root):
            result = pool.compile(_read(file, settings.max_document_bytes), with_bundle=not no_bundle)
    except WasmflowError as err:
        fail(err, as_json=as_json, label=file)
    if as_json:
        echo_json(result.to_dict())
        return
    a = result.artifact
    m = a.manifest
    click.echo(f"{a.workflow_name}: {'cache hit' if result.cache_hit else 'compiled'} in {result.seconds:.2f} s")
    if a.is_program:
        size = f"program {a.component_size / 1000:.1f} kB on shared runtime {a.bundle['runtime'][:12]}"
    else:
        comp = pool.store.path(a.digest) / artifacts.COMPONENT
        size = f"{_mb(a.component_size)} (gzip {_mb(len(gzip.compress(comp.read_bytes(), compresslevel=6)))})"
    rows = [
        ("digest", a.digest),
        ("component", size),
        ("capabilities", ", ".join(m.get("capabilities", [])) or "-"),
        ("hosts", ", ".join(m.get("hosts", [])) or "-"),
        ("secrets", ", ".join(m.get("secrets", [])) or "-"),
        ("kv namespaces", ", ".join(m.get("namespaces", [])) or "-"),
    ]
    for k, v in rows:
        click.echo(f"  {k:<14}{v}")


@click.command("inspect")
@click.argument("digest")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and source as JSON.")
@click.option("--source/--no-source", default=True, help="Show the generated guest module.")
@click.pass_context
def inspect_cmd(ctx: click.Context, digest: str, as_json: bool, source: bool) -> None:
    """Show the manifest and generated guest source of a compiled artifact (DIGEST or a unique prefix)."""
    from app.compiler import artifacts, open_compiler

    settings = settings_from(ctx)
    try:
        store = open_compiler(settings).store
        info = store.find(digest.lower())
        guest = store.read_text(info.digest, artifacts.GUEST_SOURCE)
    except WasmflowError as err:
        fail(err, as_json=as_json)
    if as_json:
        echo_json({**info.to_dict(), **({"guest_source": guest} if source else {})})
        return
    m = info.manifest
    click.echo(f"{info.workflow_name}  {info.digest}")
    click.echo(f"  compiled      {info.created_at:%Y-%m-%d %H:%M:%S} in {info.compile_seconds:.2f} s")
    click.echo("  toolchain     " + ", ".join(f"{k} {v}" for k, v in info.compiler.items() if k != "fingerprint"))
    what = "program" if info.is_program else "component"
    click.echo(f"  {what:<14}{info.component_size:,} bytes sha256 {info.component_sha256}")
    if info.is_program:
        click.echo(f"  runtime       {info.bundle['runtime']} (sha256 {info.bundle['runtime_sha256']})")
    for key in ("capabilities", "hosts", "secrets", "namespaces", "workflows"):
        click.echo(f"  {key:<14}{', '.join(m.get(key, [])) or '-'}")
    if source:
        click.echo("\n# --- generated guest module ---")
        click.echo(guest, nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(compile_cmd)
    cli.add_command(inspect_cmd)
