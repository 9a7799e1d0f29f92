import { describe, expect, it } from "vitest";
import { agentPointers, approvalMode, fixedText, newTool, parseFixed, placeAgentProblems, setIn, switchKind, toolChips, toolKind } from "./agent";

const P = "/nodes/1/config";

describe("agent config edits", () => {
  it("sets nested fields without touching the rest, and drops what a clear leaves empty", () => {
    const cfg = { model: { base_url: "u", prices: { input_per_million: 1 } }, tools: [{ name: "a", http: { url: "x" } }] };
    expect(setIn(cfg, ["model", "model"], "m")).toEqual({ ...cfg, model: { ...cfg.model, model: "m" } });
    expect(setIn(cfg, ["model", "prices", "input_per_million"], undefined)).toEqual({ ...cfg, model: { base_url: "u" } });
    const t = setIn(cfg, ["tools", 0, "http", "method"], "POST");
    expect(t.tools).toEqual([{ name: "a", http: { url: "x", method: "POST" } }]);
    expect(cfg.tools[0].http).toEqual({ url: "x" }); // not mutated
  });

  it("adds tools with fresh names and switches what a tool does", () => {
    const a = newTool("http", []);
    expect(a).toMatchObject({ name: "call_api", http: { method: "GET" }, parameters: { type: "object" } });
    expect(newTool("http", [a]).name).toBe("call_api_2");
    const kv = switchKind(a, "kv");
    expect(toolKind(kv)).toBe("kv");
    expect(kv.http).toBeUndefined();
    expect(switchKind(kv, "http", { method: "PUT", url: "back" }).http).toEqual({ method: "PUT", url: "back" });
    expect(toolKind({ name: "x" })).toBeNull();
  });

  it("reads 'set it myself' values: JSON where it is JSON, else the text (a template)", () => {
    expect(parseFixed("42")).toBe(42);
    expect(parseFixed("true")).toBe(true);
    expect(parseFixed('{"a": 1}')).toEqual({ a: 1 });
    expect(parseFixed('"42"')).toBe("42");
    expect(parseFixed("EUR")).toBe("EUR");
    expect(parseFixed("{{ input['email'] }}")).toBe("{{ input['email'] }}");
    expect(parseFixed("4 apples")).toBe("4 apples");
    expect(fixedText(42)).toBe("42");
    expect(fixedText("EUR")).toBe("EUR");
    expect(approvalMode(undefined)).toBe("never");
    expect(approvalMode("always")).toBe("always");
    expect(approvalMode("args['amount'] > 50")).toBe("expression");
  });

  it("shows each server problem at the deepest field or box that holds it", () => {
    const cfg = { tools: [{ name: "a", http: { url: "x", headers: { "X-A": "1" } } }] };
    const problem = (path: string) => ({ path, node: "n", message: path, code: "c" });
    const placed = placeAgentProblems(
      [problem(`${P}/model/base_url`), problem(`${P}/tools/0`), problem(`${P}/tools/0/http/headers/X-A`), problem(`${P}/tools/0/bogus`), problem(`${P}/tools/3/name`), problem(`${P}/weird`)],
      agentPointers(P, cfg),
    );
    expect([...placed.keys()].sort()).toEqual([`${P}`, `${P}/model/base_url`, `${P}/tools`, `${P}/tools/0`, `${P}/tools/0/http/headers/X-A`].sort());
    expect(placed.get(`${P}/tools/0`)!.map((p) => p.path)).toEqual([`${P}/tools/0`, `${P}/tools/0/bogus`]);
  });

  it("gives the canvas one chip per tool", () => {
    expect(toolChips({ tools: [{ name: "a", http: {} }, { name: "b", kv: { op: "set" }, approval: "always" }, {}] })).toEqual([
      { name: "a", kind: "http", gated: false },
      { name: "b", kind: "kv", gated: true },
      { name: "?", kind: null, gated: false },
    ]);
  });
});
