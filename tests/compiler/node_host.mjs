// Parity harness: run a transpiled workflow bundle in Node with a fake host made of canned responses.
//
// usage: node --experimental-wasm-extended-const node_host.mjs BUNDLE_DIR FIXTURE_JSON INPUT_JSON [CORE_DIR [PROGRAM]]
// With PROGRAM (a program artifact's bytecode file) BUNDLE_DIR is the shared runtime's bundle: every other
// interface of the runtime world is linked as a denial naming its capability (fixture "denied"), and the
// export is run(program, input).
// FIXTURE_JSON: {"interfaces": {"clock.now": "wasmflow:host/clock-now", ...},
//                "responses": {"clock.now": [{"ok": <json>} | {"err": {"code", "message", "retriable"}}, ...]}}
// Prints one JSON line: {"ok": bool, "value": <string>, "calls": [...]} or {"trap": <message>, "calls": [...]}.
//
// jco 1.35 conventions (checked in the generated code): the imports object is keyed by the UNVERSIONED
// interface name ('wasmflow:host/clock-now'); a host function returns the ok value (or {tag, val}); it
// signals err by throwing an object with an own `payload` property (jco's ComponentError shape) or a
// non-Error value; throwing a plain Error traps the guest. An err returned by the export `run` is thrown
// as a ComponentError whose `payload` is the err string.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [bundleDir, fixturePath, input, coreDir, programPath] = process.argv.slice(2);
const fixture = JSON.parse(readFileSync(fixturePath, "utf8"));
const calls = [];

function fakeHost(capability) {
  const queue = [...(fixture.responses[capability] ?? [])];
  return {
    call(request) {
      calls.push({ capability, request: JSON.parse(request) });
      const next = queue.shift();
      if (next === undefined) throw new Error(`no canned response left for ${capability}`);
      if ("err" in next) throw Object.assign(new Error(next.err.message ?? "host error"), { payload: JSON.stringify(next.err) });
      return JSON.stringify(next.ok);
    },
  };
}

const imports = {};
for (const [capability, iface] of Object.entries(fixture.interfaces)) imports[iface] = fakeHost(capability);
for (const [capability, iface] of Object.entries(fixture.denied ?? {})) {
  imports[iface] = {
    call() {
      throw new Error(`the workflow called capability ${capability}, which its manifest does not grant`);
    },
  };
}
const program = programPath ? readFileSync(programPath).toString("latin1") : null;

const dir = resolve(bundleDir);
const { instantiate } = await import(pathToFileURL(join(dir, "workflow.js")).href);
// Published artifacts keep core modules in a shared folder by content hash (CORE_DIR, optional).
const locate = (name) => (coreDir && existsSync(join(coreDir, name)) ? join(coreDir, name) : join(dir, name));
const getCoreModule = (name) => WebAssembly.compile(readFileSync(locate(name)));

let out;
try {
  const instance = await instantiate(getCoreModule, imports);
  try {
    out = { ok: true, value: program === null ? instance.run(input) : instance.run(program, input) };
  } catch (e) {
    if (e && Object.prototype.hasOwnProperty.call(e, "payload")) out = { ok: false, value: e.payload };
    else throw e;
  }
} catch (e) {
  out = { trap: String(e && e.message ? e.message : e) };
}
out.calls = calls;
process.stdout.write(JSON.stringify(out) + "\n");
