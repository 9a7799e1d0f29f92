"""The runtime: the wasmtime engine, host functions, limits, journal and replay (wasm.py is the first piece)."""
