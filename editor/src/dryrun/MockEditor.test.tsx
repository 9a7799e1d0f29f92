// Node environment (jsdom needs a newer Node here): the markup by server rendering, the form logic directly.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { MockEditor, mockFromForm, type MockForm } from "./MockEditor";

const blank: MockForm = { isError: false, status: "200", body: "", code: "error", message: "", approved: false };
const html = (type: string, value?: Parameters<typeof MockEditor>[0]["value"]) =>
  renderToStaticMarkup(<MockEditor node={{ id: "n", type }} value={value} onChange={() => {}} />);

describe("MockEditor", () => {
  it("shows status and body for an HTTP node, filled from its mock", () => {
    const out = html("http.request", { kind: "ok", value: { status: 404, body: { error: "gone" } } });
    expect(out).toContain("http.request");
    expect(out).toContain('value="404"');
    expect(out).toContain("&quot;error&quot;: &quot;gone&quot;");
    expect(out).toContain("wf-mock-json");
  });

  it("shows the error fields of an error mock, the decision of an approval, nothing for a transform", () => {
    expect(html("kv.get", { kind: "error", error: { code: "unavailable", message: "down" } })).toContain('value="down"');
    expect(html("approval")).toContain("wf-mock-decision");
    expect(html("transform")).toContain("nothing to mock");
    expect(html("http.request", [{ kind: "ok", value: { status: 1 } }, { kind: "ok", value: { status: 2 } }])).toContain(
      "2 recorded answers",
    );
  });

  it("turns the form into a mock, or says what is wrong in one line", () => {
    expect(mockFromForm("http.request", { ...blank, status: "404", body: '{"error": "gone"}' })).toEqual({
      mock: { kind: "ok", value: { status: 404, headers: { "content-type": "application/json" }, body: { error: "gone" } } },
    });
    expect(mockFromForm("http.request", { ...blank, body: "{nope" })).toMatchObject({ problem: expect.stringMatching(/^body: not JSON/) });
    expect(mockFromForm("http.request", { ...blank, status: "99" })).toEqual({ problem: "status: an HTTP status 100..599" });
    expect(mockFromForm("kv.get", { ...blank, body: "3" })).toEqual({ mock: { kind: "ok", value: { found: true, value: 3 } } });
    expect(mockFromForm("kv.get", blank)).toEqual({ mock: { kind: "ok", value: { found: false, value: null } } });
    expect(mockFromForm("subflow", { ...blank, body: '{"a": 1}' })).toEqual({ mock: { kind: "ok", value: { run_id: "dry-run", output: { a: 1 } } } });
    expect(mockFromForm("approval", { ...blank, approved: true })).toEqual({
      mock: { kind: "ok", value: { approved: true, decision: "approved", by: "dry-run" } },
    });
    expect(mockFromForm("kv.get", { ...blank, isError: true, code: "unavailable", message: "kv is down" })).toEqual({
      mock: { kind: "error", error: { code: "unavailable", message: "kv is down", retriable: false } },
    });
    expect(mockFromForm("kv.get", { ...blank, isError: true })).toEqual({ problem: "message: an error needs a message" });
  });
});

describe("MockEditor of an agent node", () => {
  it("shows the scripted turns with their tool calls and answers", () => {
    const node = { id: "a", type: "agent", config: { tools: [{ name: "lookup", http: { method: "GET", url: "u" } }] } };
    const value = [
      { kind: "ok" as const, capability: "llm.chat", value: { message: { content: null, tool_calls: [{ id: "c1", name: "lookup", arguments: { id: 1 } }] }, usage: { input_tokens: 7, output_tokens: 2 } } },
      { kind: "ok" as const, capability: "http.request", value: { status: 404, body: { error: "gone" } } },
      { kind: "ok" as const, capability: "llm.chat", value: { message: { content: "Not found." } } },
    ];
    const out = renderToStaticMarkup(<MockEditor node={node} value={value} onChange={() => {}} />);
    expect(out).toContain('data-testid="agent-mocks"');
    expect(out).toContain('data-testid="mock-turn-1-call-1"');
    expect(out).toContain('value="404"');
    expect(out).toContain("&quot;error&quot;: &quot;gone&quot;");
    expect(out).toContain("Not found.");
    expect(out).toContain('value="7"');
    expect(renderToStaticMarkup(<MockEditor node={{ id: "a", type: "agent" }} value={undefined} onChange={() => {}} />)).toContain("No turns scripted");
  });
});
