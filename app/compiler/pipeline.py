"""DSL document -> guest module -> component and browser bundle, built in one staging folder.

The server's precompiled form is produced after publishing, in the background (see
``ArtifactStore.precompiled_path``): the editor's test run needs only the bundle. Each step is timed; a toolchain failure becomes a ``CompileError`` naming the step, and the staging folder
is discarded so no half-written artifact is ever published.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app import dsl
from app.compiler import artifacts, toolchain
from app.compiler.artifacts import ArtifactInfo, ArtifactStore
from app.compiler.manifest import compute_manifest
from app.errors import CompileError, WasmflowError


@dataclass
class CompileResult:
    artifact: ArtifactInfo
    cache_hit: bool
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.artifact.digest

    def to_dict(self) -> dict[str, Any]:
        a = self.artifact
        return {
            "digest": a.digest,
            "workflow": a.workflow_name,
            "cache_hit": self.cache_hit,
            "seconds": round(self.seconds, 4),
            "steps": {k: round(v, 4) for k, v in self.steps.items()},
            "component_size": a.component_size,
            "capabilities": a.manifest.get("capabilities", []),
            "manifest": a.manifest,
            "bundle": a.bundle,
        }


@dataclass(frozen=True)
class Prepared:
    """A validated document and its digest: everything needed to decide cache hit or build."""

    doc: dict[str, Any]
    canonical: str
    digest: str

    @property
    def name(self) -> str:
        return self.doc["name"]


def prepare(source: Any) -> Prepared:
    """Validate ``source`` (JSON text, bytes or dict) and compute its artifact digest; raises ValidationFailed."""
    doc = dsl.parse_and_validate(source)
    canonical = dsl.canonical_json(doc)
    return Prepared(doc=doc, canonical=canonical, digest=toolchain.artifact_digest(canonical))


def build(
    prepared: Prepared,
    store: ArtifactStore,
    *,
    timeout: float = 300,
    with_bundle: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """Build the artifact of ``prepared`` into the store (the caller has checked it is not there yet).

    With the shared runtime (the default) the artifact is a program for it, unless the workflow's code
    imports a module the runtime does not hold: then, as with ``WASMFLOW_SHARED_RUNTIME=0``, a component.
    """
    if toolchain.shared_runtime():
        from app.compiler import codegen, runtime

        source, imports = codegen.generate_program(prepared.doc, digest=prepared.digest, for_runtime=True)
        if imports <= set(runtime.MODULES):
            return build_program(prepared, store, source=source, timeout=timeout, progress=progress)
    return build_component(prepared, store, timeout=timeout, with_bundle=with_bundle)


def build_program(
    prepared: Prepared,
    store: ArtifactStore,
    *,
    source: str,
    timeout: float = 300,
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """A program artifact: the generated source, its bytecode (compiled by the shared runtime's own CPython)
    and the manifest; a few kB that run on the one precompiled runtime, here and in the browser."""
    from app.compiler import runtime
    from app.runtime import wasm

    started = time.perf_counter()
    steps: dict[str, float] = {}
    step = "runtime"
    staging = None
    try:
        t = time.perf_counter()
        rt = runtime.ensure(store.runtime_root, timeout=max(timeout, 900), progress=progress)
        component = store.runtime_component(rt)
        steps[step] = time.perf_counter() - t
        step = "codegen"
        t = time.perf_counter()
        manifest = compute_manifest(prepared.doc)
        staging = store.staging(prepared.digest)
        (staging / artifacts.GUEST_SOURCE).write_text(source, encoding="utf-8")
        steps[step] = time.perf_counter() - t
        step = "bytecode"
        t = time.perf_counter()
        program = wasm.compile_program(component, source)
        (staging / artifacts.PROGRAM).write_bytes(program)
        steps[step] = time.perf_counter() - t
        seconds = time.perf_counter() - started
        program_sha = hashlib.sha256(program).hexdigest()
        info = ArtifactInfo(
            digest=prepared.digest,
            workflow_name=prepared.name,
            dsl_sha256=hashlib.sha256(prepared.canonical.encode("utf-8")).hexdigest(),
            compiler={**toolchain.compiler_identity(), "runtime_sha256": rt.component_sha256},
            manifest=manifest.to_dict(),
            component_sha256=program_sha,
            component_size=len(program),
            bundle={
                "kind": artifacts.PROGRAM_KIND,
                "runtime": rt.key,
                "runtime_sha256": rt.component_sha256,
                "runtime_entry": rt.bundle["entry"],
                "program": artifacts.PROGRAM,
                "program_sha256": program_sha,
                "source_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
                "size": len(program),
            },
            compile_seconds=round(seconds, 3),
            created_at=artifacts.now(),
        )
        published = store.publish(staging, info)
        return CompileResult(artifact=published, cache_hit=False, seconds=seconds, steps=steps)
    except WasmflowError:
        if staging is not None:
            store.discard(staging)
        raise
    except Exception as exc:  # a toolchain surprise must not leave files or escape as a traceback
        if staging is not None:
            store.discard(staging)
        raise CompileError(f"compile failed during {step}: {type(exc).__name__}: {exc}") from exc


def build_component(
    prepared: Prepared, store: ArtifactStore, *, timeout: float = 300, with_bundle: bool = True
) -> CompileResult:
    """A per-workflow component (componentize-py, seconds) and its browser bundle."""
    from app.compiler import build as component_build
    from app.compiler import bundle, codegen, inspect

    started = time.perf_counter()
    steps: dict[str, float] = {}
    staging = store.staging(prepared.digest)
    step = "codegen"
    try:
        t = time.perf_counter()
        manifest = compute_manifest(prepared.doc)
        source = codegen.generate_guest_module(prepared.doc, digest=prepared.digest)
        (staging / artifacts.GUEST_SOURCE).write_text(source, encoding="utf-8")
        steps[step] = time.perf_counter() - t

        step = "componentize"
        t = time.perf_counter()
        component = component_build.build_component(
            source, set(manifest.capabilities), workdir=staging / "build", timeout=timeout
        )
        (staging / artifacts.COMPONENT).write_bytes(component)
        steps[step] = time.perf_counter() - t

        step = "inspect"
        imports = inspect.component_imports(component)
        allowed = {component_build.import_name(c) for c in manifest.capabilities}
        stray = sorted(set(imports) - allowed)
        if stray:
            raise CompileError(f"the component imports more than its manifest grants: {', '.join(stray)}")

        bundle_info: dict[str, Any] = {}
        if with_bundle:
            step = "bundle"
            t = time.perf_counter()
            bundle_info = bundle.transpile_bundle(
                staging / artifacts.COMPONENT, staging / artifacts.BUNDLE_DIR, timeout=timeout
            )
            steps[step] = time.perf_counter() - t
        _remove_tree(staging / "build")
        seconds = time.perf_counter() - started
        info = ArtifactInfo(
            digest=prepared.digest,
            workflow_name=prepared.name,
            dsl_sha256=hashlib.sha256(prepared.canonical.encode("utf-8")).hexdigest(),
            compiler=toolchain.compiler_identity(),
            manifest=manifest.to_dict(),
            component_sha256=hashlib.sha256(component).hexdigest(),
            component_size=len(component),
            bundle=bundle_info,
            compile_seconds=round(seconds, 3),
            created_at=artifacts.now(),
        )
        published = store.publish(staging, info)
        return CompileResult(artifact=published, cache_hit=False, seconds=seconds, steps=steps)
    except WasmflowError:
        store.discard(staging)
        raise
    except Exception as exc:  # a toolchain surprise must not leave files or escape as a traceback
        store.discard(staging)
        raise CompileError(f"compile failed during {step}: {type(exc).__name__}: {exc}") from exc


def attach_bundle(store: ArtifactStore, digest: str, *, timeout: float = 300) -> CompileResult:
    """Transpile the browser bundle of an artifact that was published without one."""
    from app.compiler import bundle

    started = time.perf_counter()
    staging = store.staging(digest)
    try:
        info = bundle.transpile_bundle(
            store.path(digest) / artifacts.COMPONENT, staging / artifacts.BUNDLE_DIR, timeout=timeout
        )
        published = store.attach_bundle(digest, staging / artifacts.BUNDLE_DIR, info)
    except WasmflowError:
        raise
    except Exception as exc:  # a toolchain surprise must not escape as a traceback
        raise CompileError(f"compile failed during bundle: {type(exc).__name__}: {exc}") from exc
    finally:
        store.discard(staging)
    seconds = time.perf_counter() - started
    return CompileResult(artifact=published, cache_hit=False, seconds=seconds, steps={"bundle": seconds})


def _remove_tree(path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
