"""Read a component's top-level imports and exports from its binary, without compiling it.

We check the capability set of a built component by inspecting the bytes (not by trusting the compiler's
inputs): a tiny reader of the component-model binary format that walks the top-level sections and decodes
only the import (id 10) and export (id 11) sections; every other section is skipped by its size.
"""

from __future__ import annotations

from pathlib import Path

from app.errors import CompileError

_MAGIC = b"\x00asm"
_COMPONENT_VERSION = b"\x0d\x00\x01\x00"  # version 0x0d, layer 1 (component); a core module has layer 0
_IMPORT_SECTION = 10
_EXPORT_SECTION = 11
_KINDS = {0x00: "core-module", 0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise CompileError("component binary is truncated", code="bad_component")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def string(self) -> str:
        n = self.uleb()
        if self.pos + n > self.end:
            raise CompileError("component binary is truncated", code="bad_component")
        s = self.data[self.pos : self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def name(self) -> str:
        """importname'/exportname': 0x00 name, or 0x01 name plus a second string (url/version suffix)."""
        tag = self.byte()
        name = self.string()
        if tag == 0x01:
            self.string()
        elif tag != 0x00:
            raise CompileError(f"unknown component name encoding 0x{tag:02x}", code="bad_component")
        return name

    def externdesc(self) -> str:
        kind = self.byte()
        if kind == 0x00:  # core module: 0x11 typeidx
            self.byte()
            self.uleb()
        elif kind in (0x01, 0x04, 0x05):
            self.uleb()
        elif kind in (0x02, 0x03):  # value bound / type bound: 0x00 idx, or 0x01 (+ valtype for values)
            tag = self.byte()
            if tag == 0x00 or kind == 0x02:
                self.uleb()
        else:
            raise CompileError(f"unknown extern kind 0x{kind:02x} in component", code="bad_component")
        return _KINDS[kind]


def _sections(data: bytes):
    if data[:4] != _MAGIC:
        raise CompileError("not a WebAssembly binary", code="bad_component")
    if data[4:8] != _COMPONENT_VERSION:
        raise CompileError("not a WebAssembly component (a core module or another version)", code="bad_component")
    r = _Reader(data, 8)
    while r.pos < r.end:
        sid = r.byte()
        size = r.uleb()
        yield sid, _Reader(data, r.pos, r.pos + size)
        r.pos += size


def component_items(wasm: bytes | Path) -> dict[str, list[tuple[str, str]]]:
    """All top-level imports and exports as ``{"imports": [(name, kind)], "exports": [(name, kind)]}``."""
    data = Path(wasm).read_bytes() if isinstance(wasm, Path) else bytes(wasm)
    items: dict[str, list[tuple[str, str]]] = {"imports": [], "exports": []}
    for sid, r in _sections(data):
        if sid == _IMPORT_SECTION:
            for _ in range(r.uleb()):
                name = r.name()
                items["imports"].append((name, r.externdesc()))
        elif sid == _EXPORT_SECTION:
            for _ in range(r.uleb()):
                name = r.name()
                sort = r.byte()
                if sort == 0x00:  # core sort: one more byte
                    r.byte()
                r.uleb()
                kind = r.externdesc() if r.byte() == 0x01 else _KINDS.get(sort, "other")
                items["exports"].append((name, kind))
    return items


def component_imports(wasm: bytes | Path) -> list[str]:
    """Names of the component's top-level imports, in binary order (e.g. ``wasmflow:host/clock-now@1.0.0``)."""
    return [name for name, _ in component_items(wasm)["imports"]]


def component_exports(wasm: bytes | Path) -> list[str]:
    """Names of the component's top-level exports, in binary order (e.g. ``run``)."""
    return [name for name, _ in component_items(wasm)["exports"]]
