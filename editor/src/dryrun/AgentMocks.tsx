// The Mock tab of an agent node: the model's turns scripted in order (an answer text, tool calls with their
// arguments, tokens in and out), and under each tool call what the tool answers (agentMocks.ts turns this
// into the node's mock list). Changes apply as they are typed while the form is valid; a problem says
// what keeps it from being applied. Neutral markup, class names prefixed `wf-turn` (the editor styles them).
import { useEffect, useMemo, useRef, useState } from "react";
import { buildAgentMocks, blankAnswer, newCall, newTurn, parseAgentMocks, toolInfos, type AgentMockDraft, type CallDraft, type ToolInfo, type TurnDraft } from "./agentMocks";
import type { Mock } from "./types";

export interface AgentMocksProps {
  node: { id: string; type: string; config?: unknown };
  value: Mock | undefined;
  onChange: (mock: Mock | undefined) => void;
}

const OTHER = "\u0000other";

/** Recorded answers the form does not show (clock.now of the time limit, a retry's wait), kept in order. */
function kept(list: { capability?: string }[]): string {
  const n = new Map<string, number>();
  for (const m of list) n.set(m.capability ?? "llm.chat", (n.get(m.capability ?? "llm.chat") ?? 0) + 1);
  return [...n].map(([c, k]) => (k > 1 ? `${c} ×${k}` : c)).join(", ");
}

const rows = (text: string, min = 2, max = 8) => Math.min(max, Math.max(min, text.split("\n").length));

export function AgentMocks({ node, value, onChange }: AgentMocksProps) {
  const tools = useMemo(() => toolInfos(node.config), [node.config]);
  const [draft, setDraft] = useState<AgentMockDraft>(() => parseAgentMocks(value as never, tools));
  const emitted = useRef<Mock | undefined>(value);
  // A list set from outside (Use as mocks, another tab's edit) replaces the form.
  useEffect(() => {
    if (value !== emitted.current) {
      emitted.current = value;
      setDraft(parseAgentMocks(value as never, tools));
    }
  }, [value, tools]);
  const built = useMemo(() => buildAgentMocks(draft, tools), [draft, tools]);

  const update = (next: AgentMockDraft) => {
    setDraft(next);
    const b = buildAgentMocks(next, tools);
    if (b.problems.length) return;
    const mock = b.mocks.length ? b.mocks : undefined;
    emitted.current = mock;
    onChange(mock);
  };
  const setTurn = (i: number, t: TurnDraft) => update({ ...draft, turns: draft.turns.map((x, j) => (j === i ? t : x)) });
  const addTurn = (kind: "text" | "tool") => update({ ...draft, turns: [...draft.turns, newTurn(tools, kind, draft.turns.length + 1)] });

  return (
    <div className="wf-mock wf-agent-mocks" data-testid="agent-mocks">
      <div className="wf-mock-head">
        <span className="wf-mock-capability">llm.chat</span>
        <span className="wf-mock-list">the model's turns, in order; tool calls are answered below each</span>
      </div>
      {!draft.turns.length ? <p className="wf-turn-note">No turns scripted: the model's first call fails with “no mock”. Add what it answers.</p> : null}
      {draft.prelude.length ? <p className="wf-turn-note" data-testid="mock-prelude">Also answered, before the first turn: {kept(draft.prelude)}.</p> : null}
      <div className="wf-turns">
        {draft.turns.map((t, i) => (
          <Turn
            key={i}
            n={i + 1}
            t={t}
            tools={tools}
            last={i === draft.turns.length - 1}
            onChange={(x) => setTurn(i, x)}
            onRemove={() => update({ ...draft, turns: draft.turns.filter((_, j) => j !== i) })}
          />
        ))}
      </div>
      {built.problems.length ? (
        <div className="wf-mock-problem" data-testid="mock-problem">
          {built.problems.map((p) => (
            <div key={p}>{p}</div>
          ))}
          <div className="wf-turn-note">Not applied until fixed.</div>
        </div>
      ) : null}
      <div className="wf-turn-add">
        <button type="button" data-testid="btn-add-turn-tool" disabled={!tools.length} title={tools.length ? "the model calls a tool" : "give the node a tool first (Config tab)"} onClick={() => addTurn("tool")}>
          + turn: call a tool
        </button>
        <button type="button" data-testid="btn-add-turn-text" onClick={() => addTurn("text")}>
          + turn: answer
        </button>
        <span className="wf-grow" />
        <button type="button" data-testid="mock-remove" disabled={value === undefined} onClick={() => {
          emitted.current = undefined;
          setDraft({ prelude: [], turns: [] });
          onChange(undefined);
        }}>
          Clear
        </button>
      </div>
    </div>
  );
}

function Turn({ n, t, tools, last, onChange, onRemove }: { n: number; t: TurnDraft; tools: ToolInfo[]; last: boolean; onChange: (t: TurnDraft) => void; onRemove: () => void }) {
  const id = `mock-turn-${n}`;
  const final = last && !t.error && !t.calls.length;
  return (
    <div className="wf-turn" data-testid={id}>
      <div className="wf-turn-head">
        <b>Turn {n}</b>
        <span className="wf-turn-note">{t.error ? "the model call fails" : t.calls.length ? `${t.calls.length} tool call${t.calls.length > 1 ? "s" : ""}` : final ? "final answer" : "answer"}</span>
        <span className="wf-grow" />
        <label className="wf-turn-note wf-turn-check" title="the model's API answers with an error">
          <input type="checkbox" data-testid={`${id}-error-toggle`} checked={!!t.error} onChange={(e) => onChange({ ...t, error: e.target.checked ? { code: "provider_error", message: "" } : null })} /> fails
        </label>
        <button type="button" className="wf-turn-x" data-testid={`${id}-remove`} title="remove this turn" onClick={onRemove}>
          ✕
        </button>
      </div>
      {t.error ? (
        <>
          <input data-testid={`${id}-error-code`} value={t.error.code} placeholder="code, e.g. rate_limited" onChange={(e) => onChange({ ...t, error: { ...t.error!, code: e.target.value } })} />
          <input data-testid={`${id}-error-message`} value={t.error.message} placeholder="message" onChange={(e) => onChange({ ...t, error: { ...t.error!, message: e.target.value } })} />
        </>
      ) : (
        <>
          <textarea
            data-testid={`${id}-text`}
            rows={t.calls.length ? 1 : 3}
            value={t.text}
            spellCheck={false}
            placeholder={t.calls.length ? "text with the calls (optional)" : "what the model answers"}
            onChange={(e) => onChange({ ...t, text: e.target.value })}
          />
          {t.calls.map((c, j) => (
            <Call
              key={j}
              id={`${id}-call-${j + 1}`}
              c={c}
              tools={tools}
              onChange={(x) => onChange({ ...t, calls: t.calls.map((y, k) => (k === j ? x : y)) })}
              onRemove={() => onChange({ ...t, calls: t.calls.filter((_, k) => k !== j) })}
            />
          ))}
          <div className="wf-turn-tokens">
            <label title="input (prompt) tokens">
              tokens in <input data-testid={`${id}-in`} inputMode="numeric" placeholder="0" value={t.inTokens} onChange={(e) => onChange({ ...t, inTokens: e.target.value })} />
            </label>
            <label title="output (answer) tokens">
              out <input data-testid={`${id}-out`} inputMode="numeric" placeholder="0" value={t.outTokens} onChange={(e) => onChange({ ...t, outTokens: e.target.value })} />
            </label>
            <span className="wf-grow" />
            <button type="button" data-testid={`${id}-add-call`} disabled={!tools.length} onClick={() => onChange({ ...t, calls: [...t.calls, newCall(tools, n, t.calls.length + 1)] })}>
              + tool call
            </button>
          </div>
        </>
      )}
      {t.extra.length ? <div className="wf-turn-note">Also answered after this turn: {kept(t.extra)}.</div> : null}
    </div>
  );
}

function Call({ id, c, tools, onChange, onRemove }: { id: string; c: CallDraft; tools: ToolInfo[]; onChange: (c: CallDraft) => void; onRemove: () => void }) {
  const tool = tools.find((t) => t.name === c.name);
  const [other, setOther] = useState(!tool && c.name !== "");
  const a = c.answer;
  const rejected = tool?.gated && c.approval === "reject";
  return (
    <div className="wf-turn-call" data-testid={id}>
      <div className="wf-turn-call-head">
        <select
          data-testid={`${id}-name`}
          value={other ? OTHER : c.name}
          onChange={(e) => {
            if (e.target.value === OTHER) {
              setOther(true);
              onChange({ ...c, name: "", answer: { kind: "none" } });
              return;
            }
            setOther(false);
            const next = newCall(tools, 0, 0, e.target.value);
            onChange({ ...c, name: e.target.value, args: next.args, answer: next.answer });
          }}
        >
          {!c.name && !other ? <option value="">(tool)</option> : null}
          {tools.map((t) => (
            <option key={t.name} value={t.name}>
              {t.name}
            </option>
          ))}
          <option value={OTHER}>a tool it does not have…</option>
        </select>
        <button type="button" className="wf-turn-x" data-testid={`${id}-remove`} title="remove this call" onClick={onRemove}>
          ✕
        </button>
      </div>
      {other ? <input data-testid={`${id}-other`} value={c.name} placeholder="the name the model invents" onChange={(e) => onChange({ ...c, name: e.target.value })} /> : null}
      <span className="wf-turn-sub">arguments (JSON)</span>
      <textarea data-testid={`${id}-args`} rows={rows(c.args)} spellCheck={false} value={c.args} onChange={(e) => onChange({ ...c, args: e.target.value })} />
      {tool?.gated ? (
        <label className="wf-turn-sub">
          approval{" "}
          <select data-testid={`${id}-approval`} value={c.approval} onChange={(e) => onChange({ ...c, approval: e.target.value as CallDraft["approval"] })}>
            <option value="approve">approved</option>
            <option value="reject">rejected</option>
            <option value="ask">ask me during the run</option>
          </select>
        </label>
      ) : null}
      {!tool ? (
        <div className="wf-turn-note">Not one of the node's tools: the call is refused, nothing is performed.</div>
      ) : tool.capability === "kv.set" ? (
        <div className="wf-turn-note">kv.set: recorded by the dry run, answered with the written value.</div>
      ) : rejected ? (
        <div className="wf-turn-note">Rejected: the tool is not called.</div>
      ) : (
        <div className="wf-turn-answer">
          <div className="wf-turn-call-head">
            <span className="wf-turn-sub">{tool.capability === "http.request" ? "the API answers" : tool.capability === "workflow.call" ? "the workflow returns" : "the store holds"}</span>
            <span className="wf-grow" />
            <label className="wf-turn-note wf-turn-check" title="the tool call fails (a transport error, a timeout)">
              <input type="checkbox" data-testid={`${id}-answer-error`} checked={a.kind === "error"} onChange={(e) => onChange({ ...c, answer: e.target.checked ? { kind: "error", code: "error", message: "" } : blankAnswer(tool) })} /> fails
            </label>
          </div>
          {a.kind === "error" ? (
            <>
              <input data-testid={`${id}-error-code`} value={a.code} placeholder="code, e.g. timeout" onChange={(e) => onChange({ ...c, answer: { ...a, code: e.target.value } })} />
              <input data-testid={`${id}-error-message`} value={a.message} placeholder="message" onChange={(e) => onChange({ ...c, answer: { ...a, message: e.target.value } })} />
            </>
          ) : a.kind === "http" ? (
            <>
              <label className="wf-turn-inline">
                status <input data-testid={`${id}-status`} inputMode="numeric" value={a.status} title="HTTP status" placeholder="200" onChange={(e) => onChange({ ...c, answer: { ...a, status: e.target.value } })} />
              </label>
              <span className="wf-turn-sub">body (JSON)</span>
              <textarea data-testid={`${id}-body`} rows={rows(a.body, 3)} spellCheck={false} value={a.body} placeholder='{"id": 1}' onChange={(e) => onChange({ ...c, answer: { ...a, body: e.target.value } })} />
            </>
          ) : a.kind === "value" ? (
            <textarea data-testid={`${id}-value`} rows={rows(a.text)} spellCheck={false} value={a.text} placeholder={tool.capability === "kv.get" ? "stored value (JSON; empty = not found)" : "output (JSON)"} onChange={(e) => onChange({ ...c, answer: { ...a, text: e.target.value } })} />
          ) : null}
        </div>
      )}
    </div>
  );
}
