// The test run's input. A webhook workflow's input is the whole request ({method, path, headers, query,
// body}); people mean to type only the body, so that is what is shown first, the rest defaulted and editable
// behind "Edit the whole request". The stored input stays the full JSON text (localStorage, startDry).
import { useRef, useState } from "react";

export const WEBHOOK_DEFAULTS = { method: "POST", path: "/", headers: { "content-type": "application/json" }, query: {} as Record<string, unknown> };

type Wrapper = { method?: unknown; path?: unknown; headers?: unknown; query?: unknown; body?: unknown; [k: string]: unknown };

/** The request wrapper held in a run input text, or null when the text is not one (not JSON, not an object). */
export function parseWrapper(input: string): Wrapper | null {
  try {
    const v = JSON.parse(input || "{}") as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Wrapper) : null;
  } catch {
    return null;
  }
}

/** The run input text: the request ``base`` (else the defaults) with the body replaced; a body that is not
 * JSON is kept as typed, so the run refuses it. */
export function withBody(base: Wrapper | null, bodyText: string): string {
  const w = { ...WEBHOOK_DEFAULTS, ...(base ?? {}) };
  try {
    const body = bodyText.trim() ? (JSON.parse(bodyText) as unknown) : {};
    return JSON.stringify({ ...w, body }, null, 2);
  } catch {
    const MARK = "\u0000body\u0000";
    return JSON.stringify({ ...w, body: MARK }, null, 2).replace(JSON.stringify(MARK), bodyText.trim());
  }
}

export function RunInput({ input, setInput, webhook }: { input: string; setInput: (s: string) => void; webhook: boolean }) {
  const parsed = webhook ? parseWrapper(input) : null;
  // The last request that parsed: while the body is half typed the input is not JSON, the rest still holds.
  const good = useRef<Wrapper | null>(parsed);
  if (parsed) good.current = parsed;
  const wrapper = parsed ?? good.current;
  const [whole, setWhole] = useState(false);
  const [bodyText, setBodyText] = useState(() => JSON.stringify(wrapper?.body ?? {}, null, 2));
  const [bodyError, setBodyError] = useState<string | null>(null);
  if (!webhook || whole || !wrapper || (!parsed && !bodyError)) {
    return (
      <>
        <div className="wf-section-title">
          {webhook ? "Webhook request (JSON)" : "Run input (JSON)"}
          {webhook && wrapper ? (
            <button
              className="wf-btn wf-btn-ghost wf-btn-xs"
              data-testid="btn-run-input-body"
              onClick={() => {
                setBodyText(JSON.stringify(wrapper.body ?? {}, null, 2));
                setBodyError(null);
                setWhole(false);
              }}
            >
              Body only
            </button>
          ) : null}
        </div>
        <textarea className="wf-input wf-json" data-testid="run-input-json" rows={6} value={input} onChange={(e) => setInput(e.target.value)} spellCheck={false} />
      </>
    );
  }
  const method = typeof wrapper.method === "string" ? wrapper.method : WEBHOOK_DEFAULTS.method;
  const path = typeof wrapper.path === "string" ? wrapper.path : WEBHOOK_DEFAULTS.path;
  return (
    <>
      <div className="wf-section-title">Webhook body (JSON)</div>
      <textarea
        className={`wf-input wf-json${bodyError ? " wf-invalid" : ""}`}
        data-testid="run-input-body"
        rows={5}
        value={bodyText}
        spellCheck={false}
        onChange={(e) => {
          const s = e.target.value;
          setBodyText(s);
          try {
            if (s.trim()) JSON.parse(s);
            setBodyError(null);
          } catch (err) {
            setBodyError(`not JSON: ${(err as Error).message}`);
          }
          setInput(withBody(good.current, s));
        }}
      />
      {bodyError ? <div className="wf-local-error" data-testid="run-input-body-error">{bodyError}</div> : null}
      <div className="wf-muted wf-run-input-rest" data-testid="run-input-rest">
        Sent as <span className="wf-mono">{method} {path}</span> with the request's other parts defaulted.{" "}
        <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-run-input-request" onClick={() => setWhole(true)}>
          Edit the whole request
        </button>
      </div>
    </>
  );
}
