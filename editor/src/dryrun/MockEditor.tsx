// Pin a response or an error for one node of a dry run. Neutral markup, class names prefixed `wf-mock-`
// (the editor's stylesheet gives the look). `onChange(undefined)` removes the mock (the node then fails
// with "no mock for node X", or uses the dry-run default for waits/kv.set/respond).
import { useEffect, useState } from "react";
import { AgentMocks } from "./AgentMocks";
import { NODE_CAPABILITY, type Mock, type MockResponse } from "./types";

export interface MockEditorProps {
  /** the DSL node (an agent's config gives its tools to the scripted-turns form) */
  node: { id: string; type: string; config?: unknown };
  value: Mock | undefined;
  onChange: (mock: Mock | undefined) => void;
}

function first(value: Mock | undefined): MockResponse | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function pretty(v: unknown): string {
  return v === undefined ? "" : JSON.stringify(v, null, 2);
}

/** Parse JSON text, or say why not (one line). */
function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
}

export function MockEditor(props: MockEditorProps) {
  if (props.node.type === "agent") return <AgentMocks {...props} />;
  return <NodeMockEditor {...props} />;
}

function NodeMockEditor({ node, value, onChange }: MockEditorProps) {
  const capability = NODE_CAPABILITY[node.type];
  const current = first(value);
  const isList = Array.isArray(value) && value.length > 1;
  const [isError, setIsError] = useState(current?.kind === "error");
  const [status, setStatus] = useState(() => String((current?.kind === "ok" && (current.value as { status?: number })?.status) || 200));
  const [body, setBody] = useState(() => pretty(current?.kind === "ok" ? valueBody(node.type, current.value) : undefined));
  const [code, setCode] = useState(current?.kind === "error" ? current.error.code : "error");
  const [message, setMessage] = useState(current?.kind === "error" ? current.error.message : "");
  const [approved, setApproved] = useState(() => Boolean(current?.kind === "ok" && (current.value as { approved?: boolean })?.approved));
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => setIsError(current?.kind === "error"), [current?.kind]);

  if (!capability) {
    return <div className="wf-mock wf-mock-none">This node calls no outside service: nothing to mock.</div>;
  }

  const save = () => {
    const made = mockFromForm(node.type, { isError, status, body, code, message, approved });
    setProblem("problem" in made ? made.problem : null);
    if ("mock" in made) onChange(made.mock);
  };

  return (
    <form
      className="wf-mock"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="wf-mock-head">
        <span className="wf-mock-capability">{capability}</span>
        {isList && <span className="wf-mock-list">{(value as MockResponse[]).length} recorded answers (editing replaces them)</span>}
      </div>
      <label className="wf-mock-toggle">
        <input type="checkbox" data-testid="mock-error-toggle" checked={isError} onChange={(e) => setIsError(e.target.checked)} /> answer with an error
      </label>
      {isError ? (
        <>
          <label className="wf-mock-field">
            code <input data-testid="mock-error-code" value={code} onChange={(e) => setCode(e.target.value)} />
          </label>
          <label className="wf-mock-field">
            message <input data-testid="mock-error-message" value={message} onChange={(e) => setMessage(e.target.value)} />
          </label>
        </>
      ) : node.type === "approval" ? (
        <fieldset className="wf-mock-decision">
          <label>
            <input type="radio" data-testid="mock-approve" checked={approved} onChange={() => setApproved(true)} /> approve
          </label>
          <label>
            <input type="radio" data-testid="mock-reject" checked={!approved} onChange={() => setApproved(false)} /> reject
          </label>
        </fieldset>
      ) : (
        <>
          {node.type === "http.request" && (
            <label className="wf-mock-field">
              status <input data-testid="mock-status" inputMode="numeric" value={status} onChange={(e) => setStatus(e.target.value)} />
            </label>
          )}
          <label className="wf-mock-field">
            {valueLabel(node.type)}
            <textarea className="wf-mock-json" data-testid="mock-body" rows={6} value={body} onChange={(e) => setBody(e.target.value)} spellCheck={false} />
          </label>
        </>
      )}
      {problem && <div className="wf-mock-problem" data-testid="mock-problem">{problem}</div>}
      <div className="wf-mock-actions">
        <button type="submit" data-testid="mock-pin">Pin</button>
        <button type="button" data-testid="mock-remove" disabled={value === undefined} onClick={() => onChange(undefined)}>
          Remove mock
        </button>
      </div>
    </form>
  );
}

export interface MockForm {
  isError: boolean;
  status: string;
  body: string;
  code: string;
  message: string;
  approved: boolean;
}

/** The mock a filled form stands for, or the one-line problem that keeps it from being pinned. */
export function mockFromForm(type: string, f: MockForm): { mock: MockResponse } | { problem: string } {
  if (f.isError) {
    if (!f.message.trim()) return { problem: "message: an error needs a message" };
    return { mock: { kind: "error", error: { code: f.code.trim() || "error", message: f.message, retriable: false } } };
  }
  if (type === "approval") {
    return { mock: { kind: "ok", value: { approved: f.approved, decision: f.approved ? "approved" : "rejected", by: "dry-run" } } };
  }
  const parsed = parseJson(f.body);
  if (!parsed.ok) return { problem: `${type === "http.request" ? "body" : "value"}: ${parsed.error}` };
  if (type === "http.request") {
    const n = Number(f.status);
    if (!Number.isInteger(n) || n < 100 || n > 599) return { problem: "status: an HTTP status 100..599" };
    return { mock: { kind: "ok", value: { status: n, headers: { "content-type": "application/json" }, body: parsed.value } } };
  }
  return { mock: { kind: "ok", value: mockValue(type, parsed.value) } };
}

function valueLabel(type: string): string {
  switch (type) {
    case "http.request":
      return "body (JSON)";
    case "kv.get":
      return "stored value (JSON; empty = not found)";
    case "subflow":
      return "child run output (JSON)";
    case "wait":
      return "waited_until (JSON string; empty = now)";
    default:
      return "response (JSON)";
  }
}

/** What the form shows for a stored mock value. */
function valueBody(type: string, value: unknown): unknown {
  const v = (value ?? {}) as Record<string, unknown>;
  switch (type) {
    case "http.request":
      return v.body;
    case "kv.get":
      return v.found ? v.value : undefined;
    case "subflow":
      return v.output;
    case "wait":
      return v.waited_until;
    default:
      return value;
  }
}

/** The capability response for the value typed in the form. */
function mockValue(type: string, value: unknown): unknown {
  switch (type) {
    case "kv.get":
      return value === null ? { found: false, value: null } : { found: true, value };
    case "subflow":
      return { run_id: "dry-run", output: value };
    case "wait":
      return { waited_until: typeof value === "string" ? value : new Date().toISOString() };
    default:
      return value ?? {};
  }
}
