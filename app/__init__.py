"""wasmflow: workflows compiled to WebAssembly components, dry-run in the browser, run durably on the server."""

__version__ = "0.1.0"
