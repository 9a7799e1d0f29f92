// Vite builds the editor from editor/ into static/ (served by the Flask app at `/`).
// `npm run dev` serves it with /api and /hooks proxied to a running `wasmflow serve` on 127.0.0.1:8000.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

const root = fileURLToPath(new URL(".", import.meta.url));
const backend = process.env.WASMFLOW_DEV_BACKEND ?? "http://127.0.0.1:8000";

export default defineConfig({
  root,
  base: "/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../static", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: {
        // The editor, and a bare page exposing the dry-run runtime (used by the Chromium parity tests).
        main: fileURLToPath(new URL("index.html", import.meta.url)),
        dryrun: fileURLToPath(new URL("dryrun.html", import.meta.url)),
      },
    },
  },
  worker: { format: "es" },
  server: {
    proxy: {
      "/api/ws": { target: backend.replace(/^http/, "ws"), ws: true },
      "/api": backend,
      "/hooks": backend,
    },
  },
  test: {
    root,
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
    passWithNoTests: false,
  },
});
