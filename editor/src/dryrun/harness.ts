// Filled in by the dry-run work: exposes startDryRun on window for the Chromium parity tests.
export {};
