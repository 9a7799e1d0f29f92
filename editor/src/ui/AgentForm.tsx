// The inspector form of an agent node (build/agent-spec.md): the model connection, instructions and prompt,
// the tools (what each does, the arguments the model decides and those you set yourself, approval), the
// answer format, limits and hooks, in the order a person fills them in. Every input has
// data-testid="field-<JSON pointer>" like the schema forms, and each server problem shows under the deepest
// field or box that contains it (agent.ts placeAgentProblems).
import { memo, useEffect, useMemo, useState, type ReactNode } from "react";
import type { Problem } from "../dsl/types";
import {
  agentPointers,
  approvalMode,
  countUnder,
  EVENT_FOCUS_TOOL,
  fixedText,
  KIND_ICON,
  KIND_LABEL,
  KIND_SHORT,
  newTool,
  parseFixed,
  placeAgentProblems,
  setIn,
  switchKind,
  TOOL_KINDS,
  toolKind,
  type Obj,
  type ToolKind,
} from "./agent";
import { CodeField, type ScopeName } from "./CodeField";
import { FieldErrors } from "./SchemaForm";

/** Model endpoints people use, offered while typing the base URL (any OpenAI-compatible URL works). */
const BASE_URLS = [
  ["https://api.openai.com/v1", "OpenAI"],
  ["http://localhost:11434/v1", "Ollama on this machine"],
  ["http://localhost:8000/v1", "vLLM on this machine"],
  ["https://openrouter.ai/api/v1", "OpenRouter"],
  ["https://api.groq.com/openai/v1", "Groq"],
  ["https://api.mistral.ai/v1", "Mistral"],
];


interface Ctx {
  placed: Map<string, Problem[]>;
  scope: ScopeName[];
}

function Row({ label, hint, pointer, ctx, required, children, className }: { label: string; hint?: string; pointer: string; ctx: Ctx; required?: boolean; children: ReactNode; className?: string }) {
  const problems = ctx.placed.get(pointer);
  return (
    <div className={`wf-row${problems?.length ? " wf-row-invalid" : ""}${className ? ` ${className}` : ""}`}>
      <label className="wf-label" title={hint}>
        {label}
        {required ? <span className="wf-req">*</span> : null}
        {hint ? <span className="wf-hint">{hint}</span> : null}
      </label>
      {children}
      <FieldErrors problems={problems} pointer={pointer} />
    </div>
  );
}

function Text({ pointer, value, onChange, ctx, placeholder, list, nullable }: { pointer: string; value: unknown; onChange: (v: string | undefined) => void; ctx: Ctx; placeholder?: string; list?: string; nullable?: boolean }) {
  const invalid = !!ctx.placed.get(pointer)?.length;
  return (
    <input
      className={`wf-input${invalid ? " wf-invalid" : ""}`}
      data-testid={`field-${pointer}`}
      value={typeof value === "string" ? value : ""}
      placeholder={placeholder}
      list={list}
      spellCheck={false}
      onChange={(e) => onChange(e.target.value === "" && nullable ? undefined : e.target.value)}
    />
  );
}

/** A number field that keeps its text while typed; an empty field is "not set" (the default). */
function Num({ pointer, value, onChange, ctx, placeholder, integer }: { pointer: string; value: unknown; onChange: (v: number | undefined) => void; ctx: Ctx; placeholder?: string; integer?: boolean }) {
  const [text, setText] = useState(value === undefined || value === null ? "" : String(value));
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    const cur = text.trim() === "" ? undefined : Number(text);
    if (cur !== value && !(cur === undefined && value === null)) {
      setText(value === undefined || value === null ? "" : String(value));
      setErr(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const invalid = !!ctx.placed.get(pointer)?.length || !!err;
  return (
    <>
      <input
        className={`wf-input${invalid ? " wf-invalid" : ""}`}
        data-testid={`field-${pointer}`}
        inputMode="decimal"
        value={text}
        placeholder={placeholder}
        onChange={(e) => {
          const s = e.target.value;
          setText(s);
          if (!s.trim()) {
            setErr(null);
            onChange(undefined);
          } else if (Number.isNaN(Number(s)) || (integer && !Number.isInteger(Number(s)))) setErr(integer ? "a whole number" : "a number");
          else {
            setErr(null);
            onChange(Number(s));
          }
        }}
      />
      {err ? <div className="wf-local-error">{err}</div> : null}
    </>
  );
}

/** A JSON text (a schema): applied when it parses, the parse problem shown while it does not. */
function JsonText({ pointer, value, onChange, ctx, placeholder, rows = 5, object }: { pointer: string; value: unknown; onChange: (v: unknown) => void; ctx: Ctx; placeholder?: string; rows?: number; object?: boolean }) {
  const format = (v: unknown) => (v === undefined || v === null ? "" : JSON.stringify(v, null, 2));
  const [text, setText] = useState(() => format(value));
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    let same = false;
    try {
      same = text.trim() !== "" && JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
    } catch {
      same = false;
    }
    if (!same && !(text.trim() === "" && (value === undefined || value === null)) && !err) setText(format(value));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const invalid = !!ctx.placed.get(pointer)?.length || !!err;
  return (
    <>
      <textarea
        className={`wf-input wf-json${invalid ? " wf-invalid" : ""}`}
        data-testid={`field-${pointer}`}
        rows={Math.min(14, Math.max(rows, text.split("\n").length))}
        spellCheck={false}
        value={text}
        placeholder={placeholder}
        onChange={(e) => {
          const s = e.target.value;
          setText(s);
          if (!s.trim()) {
            setErr(null);
            onChange(undefined);
            return;
          }
          try {
            const v = JSON.parse(s);
            if (object && (typeof v !== "object" || v === null || Array.isArray(v))) {
              setErr("a JSON object {...}");
              return;
            }
            setErr(null);
            onChange(v);
          } catch (x) {
            setErr(`not JSON yet: ${(x as Error).message}`);
          }
        }}
      />
      {err ? <div className="wf-local-error">{err}</div> : null}
    </>
  );
}

function Code({ pointer, value, onChange, ctx, kind, scope, placeholder }: { pointer: string; value: unknown; onChange: (v: string | undefined) => void; ctx: Ctx; kind: "expression" | "template"; scope?: ScopeName[]; placeholder?: string }) {
  return (
    <CodeField
      value={typeof value === "string" ? value : ""}
      kind={kind}
      scope={scope ?? ctx.scope}
      testId={`field-${pointer}`}
      invalid={!!ctx.placed.get(pointer)?.length}
      placeholder={placeholder}
      onChange={(s) => onChange(s === "" ? undefined : s)}
    />
  );
}

/** Key/value rows (headers, query, "set it myself"): rows keep their text while typed; empty keys are left
 * out of the value, and a renamed key keeps its place. */
function Pairs({ pointer, value, onChange, ctx, valueKind, scope, keyPlaceholder, valuePlaceholder, addLabel }: {
  pointer: string;
  value: unknown;
  onChange: (v: Obj | undefined) => void;
  ctx: Ctx;
  valueKind: "template" | "fixed";
  scope: ScopeName[];
  keyPlaceholder: string;
  valuePlaceholder: string;
  addLabel: string;
}) {
  const obj = (value && typeof value === "object" && !Array.isArray(value) ? value : {}) as Obj;
  const fromObj = () => Object.entries(obj).map(([k, v]) => ({ k, t: valueKind === "fixed" ? fixedText(v) : String(v ?? "") }));
  const [rows, setRows] = useState(fromObj);
  const emit = (next: { k: string; t: string }[]) => {
    setRows(next);
    const out: Obj = {};
    for (const r of next) if (r.k.trim()) out[r.k.trim()] = valueKind === "fixed" ? parseFixed(r.t) : r.t;
    onChange(Object.keys(out).length ? out : undefined);
  };
  useEffect(() => {
    const mine: Obj = {};
    for (const r of rows) if (r.k.trim()) mine[r.k.trim()] = valueKind === "fixed" ? parseFixed(r.t) : r.t;
    if (JSON.stringify(mine) !== JSON.stringify(obj)) setRows(fromObj());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(obj)]);
  return (
    <div className="wf-pairs" data-testid={`field-${pointer}`}>
      {rows.map((r, i) => {
        const p = `${pointer}/${r.k.replace(/~/g, "~0").replace(/\//g, "~1")}`;
        const problems = r.k ? ctx.placed.get(p) : undefined;
        return (
          <div key={i} className="wf-pair">
            <input
              className="wf-input wf-pair-key wf-mono"
              data-testid={`field-${pointer}-key-${i}`}
              placeholder={keyPlaceholder}
              value={r.k}
              spellCheck={false}
              onChange={(e) => emit(rows.map((x, j) => (j === i ? { ...x, k: e.target.value } : x)))}
            />
            <div className="wf-pair-val">
              {valueKind === "template" ? (
                <CodeField value={r.t} kind="template" scope={scope} testId={`field-${pointer}-value-${i}`} invalid={!!problems?.length} placeholder={valuePlaceholder} onChange={(s) => emit(rows.map((x, j) => (j === i ? { ...x, t: s } : x)))} />
              ) : (
                <input
                  className={`wf-input wf-mono${problems?.length ? " wf-invalid" : ""}`}
                  data-testid={`field-${pointer}-value-${i}`}
                  placeholder={valuePlaceholder}
                  value={r.t}
                  spellCheck={false}
                  onChange={(e) => emit(rows.map((x, j) => (j === i ? { ...x, t: e.target.value } : x)))}
                />
              )}
              <FieldErrors problems={problems} pointer={p} />
            </div>
            <button className="wf-btn wf-btn-ghost wf-btn-xs" title="remove" data-testid={`field-${pointer}-remove-${i}`} onClick={() => emit(rows.filter((_, j) => j !== i))}>
              ✕
            </button>
          </div>
        );
      })}
      <button className="wf-btn wf-btn-xs" data-testid={`field-${pointer}-add`} onClick={() => setRows([...rows, { k: "", t: "" }])}>
        + {addLabel}
      </button>
    </div>
  );
}

function Box({ title, pointer, ctx, children, testId }: { title: ReactNode; pointer: string; ctx: Ctx; children: ReactNode; testId?: string }) {
  return (
    <div className="wf-section wf-agent-section" data-testid={testId}>
      <div className="wf-section-title">{title}</div>
      <FieldErrors problems={ctx.placed.get(pointer)} pointer={pointer} />
      {children}
    </div>
  );
}

export interface AgentFormProps {
  nodeId: string;
  /** pointer of the node's config: /nodes/3/config */
  pointer: string;
  config: Obj;
  /** the node's problems (pointers into the document) */
  problems: Problem[];
  scope: ScopeName[];
  onChange: (config: Obj, coalesce: string) => void;
}

export const AgentForm = memo(function AgentForm({ nodeId, pointer: P, config, problems, scope, onChange }: AgentFormProps) {
  const placed = useMemo(() => placeAgentProblems(problems, agentPointers(P, config)), [problems, P, config]);
  const ctx: Ctx = { placed, scope };
  const set = (path: (string | number)[], v: unknown) => onChange(setIn(config, path, v), path.join("/"));
  const model = (config.model ?? {}) as Obj;
  const prices = (model.prices ?? null) as Obj | null;
  const output = (config.output ?? {}) as Obj;
  const limits = (config.limits ?? {}) as Obj;
  const hooks = (config.hooks ?? {}) as Obj;
  const tools = (Array.isArray(config.tools) ? config.tools : []) as Obj[];
  const toolScope = useMemo(() => [...scope, { name: "args", detail: "the model's arguments (after hooks), with the ones you set" }], [scope]);
  const hookScope = useMemo(() => [...scope, { name: "tool", detail: "the tool's name" }, { name: "args", detail: "the model's arguments" }], [scope]);
  const afterScope = useMemo(() => [...hookScope, { name: "result", detail: "what the tool returned" }], [hookScope]);
  const [open, setOpen] = useState<Set<number>>(() => new Set(tools.length === 1 ? [0] : []));
  const [stash, setStash] = useState<Record<string, Obj>>({}); // what a tool did before its kind was switched

  useEffect(() => {
    const on = (e: Event) => {
      const d = (e as CustomEvent<{ node: string; index: number }>).detail;
      if (d?.node !== nodeId) return;
      setOpen((o) => new Set([...o, d.index]));
      setTimeout(() => document.querySelector(`[data-testid="agent-tool-${d.index}"]`)?.scrollIntoView({ block: "nearest", behavior: "smooth" }), 30);
    };
    window.addEventListener(EVENT_FOCUS_TOOL, on);
    return () => window.removeEventListener(EVENT_FOCUS_TOOL, on);
  }, [nodeId]);

  const setPrice = (k: "input_per_million" | "output_per_million", v: number | undefined) => {
    const next = { ...(prices ?? {}) } as Obj;
    if (v === undefined) delete next[k];
    else next[k] = v;
    set(["model", "prices"], Object.keys(next).length ? next : undefined);
  };
  const addTool = (kind: ToolKind) => {
    const list = [...tools, newTool(kind, tools)];
    onChange({ ...config, tools: list }, "tools");
    setOpen(new Set([...open, list.length - 1]));
  };
  const removeTool = (i: number) => {
    onChange({ ...config, tools: tools.filter((_, j) => j !== i) }, "tools");
    setOpen(new Set([...open].filter((j) => j !== i).map((j) => (j > i ? j - 1 : j))));
  };

  return (
    <div className="wf-agent-form" data-testid="agent-form">
      <Box title="Model" pointer={`${P}/model`} ctx={ctx} testId="agent-model">
        <Row label="base URL" hint="OpenAI-compatible API" pointer={`${P}/model/base_url`} ctx={ctx} required>
          <Text pointer={`${P}/model/base_url`} value={model.base_url} ctx={ctx} list="wf-agent-base-urls" placeholder="https://api.openai.com/v1" onChange={(v) => set(["model", "base_url"], v)} />
          <datalist id="wf-agent-base-urls">
            {BASE_URLS.map(([u, what]) => (
              <option key={u} value={u}>
                {what}
              </option>
            ))}
          </datalist>
        </Row>
        <Row label="model" pointer={`${P}/model/model`} ctx={ctx} required>
          <Text pointer={`${P}/model/model`} value={model.model} ctx={ctx} placeholder="gpt-4o-mini, llama3.1…" onChange={(v) => set(["model", "model"], v)} />
        </Row>
        <Row label="API key secret" hint="its name; the host sends the key" pointer={`${P}/model/api_key_secret`} ctx={ctx}>
          <Text pointer={`${P}/model/api_key_secret`} value={model.api_key_secret} ctx={ctx} nullable placeholder="OPENAI_API_KEY (none for Ollama)" onChange={(v) => set(["model", "api_key_secret"], v)} />
        </Row>
        <div className="wf-grid2">
          <Row label="temperature" hint="0..2" pointer={`${P}/model/temperature`} ctx={ctx}>
            <Num pointer={`${P}/model/temperature`} value={model.temperature} ctx={ctx} placeholder="model's default" onChange={(v) => set(["model", "temperature"], v)} />
          </Row>
          <Row label="max output tokens" hint="per turn" pointer={`${P}/model/max_output_tokens`} ctx={ctx}>
            <Num pointer={`${P}/model/max_output_tokens`} value={model.max_output_tokens} ctx={ctx} integer placeholder="no cap" onChange={(v) => set(["model", "max_output_tokens"], v)} />
          </Row>
        </div>
        <FieldErrors problems={placed.get(`${P}/model/prices`)} pointer={`${P}/model/prices`} />
        <div className="wf-grid2">
          <Row label="$ per 1M in" hint="tokens" pointer={`${P}/model/prices/input_per_million`} ctx={ctx}>
            <Num pointer={`${P}/model/prices/input_per_million`} value={prices?.input_per_million} ctx={ctx} placeholder="0.15" onChange={(v) => setPrice("input_per_million", v)} />
          </Row>
          <Row label="$ per 1M out" hint="tokens" pointer={`${P}/model/prices/output_per_million`} ctx={ctx}>
            <Num pointer={`${P}/model/prices/output_per_million`} value={prices?.output_per_million} ctx={ctx} placeholder="0.60" onChange={(v) => setPrice("output_per_million", v)} />
          </Row>
        </div>
        <label className="wf-check">
          <input type="checkbox" data-testid={`field-${P}/model/stream`} checked={model.stream !== false} onChange={(e) => set(["model", "stream"], e.target.checked ? undefined : false)} /> stream the answer (text shows live in the run)
        </label>
        <FieldErrors problems={placed.get(`${P}/model/stream`)} pointer={`${P}/model/stream`} />
      </Box>

      <Box title="Task" pointer={P} ctx={ctx}>
        <Row label="instructions" hint="system message (template)" pointer={`${P}/instructions`} ctx={ctx}>
          <Code pointer={`${P}/instructions`} value={config.instructions} ctx={ctx} kind="template" placeholder="You triage support tickets for {{ input['shop'] }}." onChange={(v) => set(["instructions"], v ?? "")} />
        </Row>
        <Row label="prompt" hint="the task (template)" pointer={`${P}/prompt`} ctx={ctx} required>
          <Code pointer={`${P}/prompt`} value={config.prompt} ctx={ctx} kind="template" placeholder="Ticket: {{ input['body']['text'] }}" onChange={(v) => set(["prompt"], v ?? "")} />
        </Row>
      </Box>

      <Box title={<>Tools <span className="wf-hint">what the agent may do; nothing else is possible</span></>} pointer={`${P}/tools`} ctx={ctx} testId="agent-tools">
        {!tools.length ? <div className="wf-muted wf-agent-none">No tools: the model only answers.</div> : null}
        {tools.map((tool, i) => (
          <ToolCard
            key={i}
            index={i}
            tool={tool}
            pointer={`${P}/tools/${i}`}
            ctx={ctx}
            scope={toolScope}
            open={open.has(i)}
            toggle={() => setOpen((o) => (o.has(i) ? new Set([...o].filter((j) => j !== i)) : new Set([...o, i])))}
            onChange={(t, key) => {
              const list = tools.slice();
              list[i] = t;
              onChange({ ...config, tools: list }, `tools/${i}/${key}`);
            }}
            onSwitch={(kind) => {
              const cur = toolKind(tool);
              if (cur === kind) return;
              const saved = cur ? { ...stash, [`${i}:${cur}`]: tool[cur] as Obj } : stash;
              setStash(saved);
              const list = tools.slice();
              list[i] = switchKind(tool, kind, saved[`${i}:${kind}`]);
              onChange({ ...config, tools: list }, `tools/${i}/kind`);
            }}
            onRemove={() => removeTool(i)}
          />
        ))}
        <div className="wf-agent-add">
          <span className="wf-muted">Add a tool:</span>
          {TOOL_KINDS.map((k) => (
            <button key={k} className="wf-btn wf-btn-xs" data-testid={`btn-add-tool-${k}`} onClick={() => addTool(k)}>
              + {KIND_ICON[k]} {KIND_SHORT[k]}
            </button>
          ))}
        </div>
      </Box>

      <Box title="Answer" pointer={`${P}/output`} ctx={ctx}>
        <div className="wf-seg" role="radiogroup">
          {(["text", "json"] as const).map((t) => (
            <label key={t} className={`wf-seg-item${(output.type ?? "text") === t ? " is-on" : ""}`}>
              <input type="radio" name={`${nodeId}-output`} data-testid={`field-${P}/output/type-${t}`} checked={(output.type ?? "text") === t} onChange={() => set(["output", "type"], t === "text" ? undefined : "json")} />
              {t === "text" ? "text" : "JSON, checked by a schema"}
            </label>
          ))}
        </div>
        <FieldErrors problems={placed.get(`${P}/output/type`)} pointer={`${P}/output/type`} />
        {output.type === "json" ? (
          <>
            <Row label="schema" hint="JSON Schema the answer must match" pointer={`${P}/output/schema`} ctx={ctx} required>
              <JsonText pointer={`${P}/output/schema`} value={output.schema} ctx={ctx} object placeholder={'{"type": "object", "properties": {"priority": {"enum": ["low", "high"]}}, "required": ["priority"]}'} onChange={(v) => set(["output", "schema"], v)} />
            </Row>
            <Row label="max repairs" hint="re-asks on an invalid answer (0..5)" pointer={`${P}/output/max_repairs`} ctx={ctx}>
              <Num pointer={`${P}/output/max_repairs`} value={output.max_repairs} ctx={ctx} integer placeholder="2 (default)" onChange={(v) => set(["output", "max_repairs"], v)} />
            </Row>
          </>
        ) : null}
      </Box>

      <Box title="Limits" pointer={`${P}/limits`} ctx={ctx}>
        <div className="wf-grid2">
          <Row label="max turns" hint="model calls" pointer={`${P}/limits/max_turns`} ctx={ctx}>
            <Num pointer={`${P}/limits/max_turns`} value={limits.max_turns} ctx={ctx} integer placeholder="10 (default)" onChange={(v) => set(["limits", "max_turns"], v)} />
          </Row>
          <Row label="max tool calls" hint="in all" pointer={`${P}/limits/max_tool_calls`} ctx={ctx}>
            <Num pointer={`${P}/limits/max_tool_calls`} value={limits.max_tool_calls} ctx={ctx} integer placeholder="20 (default)" onChange={(v) => set(["limits", "max_tool_calls"], v)} />
          </Row>
          <Row label="max tokens" hint="in + out, all turns" pointer={`${P}/limits/max_tokens`} ctx={ctx}>
            <Num pointer={`${P}/limits/max_tokens`} value={limits.max_tokens} ctx={ctx} integer placeholder="no cap" onChange={(v) => set(["limits", "max_tokens"], v)} />
          </Row>
          <Row label="timeout" hint="whole agent" pointer={`${P}/limits/timeout`} ctx={ctx}>
            <Text pointer={`${P}/limits/timeout`} value={limits.timeout} ctx={ctx} nullable placeholder="10m (default)" onChange={(v) => set(["limits", "timeout"], v)} />
          </Row>
        </div>
      </Box>

      <Box title={<>Hooks <span className="wf-hint">checks around every tool call</span></>} pointer={`${P}/hooks`} ctx={ctx}>
        <Row label="before_tool" hint="None/True go on; False or a text vetoes; an object replaces args" pointer={`${P}/hooks/before_tool`} ctx={ctx}>
          <Code pointer={`${P}/hooks/before_tool`} value={hooks.before_tool} ctx={ctx} kind="expression" scope={hookScope} placeholder="None if tool != 'refund' else 'refunds need a manager'" onChange={(v) => set(["hooks", "before_tool"], v)} />
        </Row>
        <Row label="after_tool" hint="a value other than None replaces the result" pointer={`${P}/hooks/after_tool`} ctx={ctx}>
          <Code pointer={`${P}/hooks/after_tool`} value={hooks.after_tool} ctx={ctx} kind="expression" scope={afterScope} placeholder="None" onChange={(v) => set(["hooks", "after_tool"], v)} />
        </Row>
      </Box>
    </div>
  );
});

function ToolCard({ index, tool, pointer: T, ctx, scope, open, toggle, onChange, onSwitch, onRemove }: {
  index: number;
  tool: Obj;
  pointer: string;
  ctx: Ctx;
  scope: ScopeName[];
  open: boolean;
  toggle: () => void;
  onChange: (tool: Obj, key: string) => void;
  onSwitch: (kind: ToolKind) => void;
  onRemove: () => void;
}) {
  const kind = toolKind(tool);
  const set = (path: (string | number)[], v: unknown) => onChange(setIn(tool, path, v), path.join("/"));
  const issues = countUnder(ctx.placed, T);
  const mode = approvalMode(tool.approval);
  return (
    <div className={`wf-tool${open ? " is-open" : ""}${issues ? " is-invalid" : ""}`} data-testid={`agent-tool-${index}`}>
      <div className="wf-tool-head" onClick={toggle} data-testid={`btn-toggle-tool-${index}`}>
        <span className="wf-tool-chev">{open ? "▾" : "▸"}</span>
        <span className="wf-tool-icon">{kind ? KIND_ICON[kind] : "?"}</span>
        <span className="wf-mono wf-tool-name">{String(tool.name ?? "") || "(no name)"}</span>
        <span className="wf-muted wf-tool-kind">{kind ? KIND_LABEL[kind] : "does nothing yet"}</span>
        {mode !== "never" ? <span className="wf-tag" title="a person approves its calls">approval</span> : null}
        {issues ? <span className="wf-count wf-count-error">{issues}</span> : null}
        <span className="wf-grow" />
        <button
          className="wf-btn wf-btn-ghost wf-btn-xs"
          data-testid={`btn-remove-tool-${index}`}
          title="remove this tool"
          onClick={(e) => {
            e.stopPropagation();
            onRemove();
          }}
        >
          ✕
        </button>
      </div>
      {!open ? (
        <FieldErrors problems={ctx.placed.get(T)} pointer={T} />
      ) : (
        <div className="wf-tool-body">
          <FieldErrors problems={ctx.placed.get(T)} pointer={T} />
          <Row label="name" hint="what the model calls it" pointer={`${T}/name`} ctx={ctx} required>
            <Text pointer={`${T}/name`} value={tool.name} ctx={ctx} placeholder="lookup_order" onChange={(v) => set(["name"], v ?? "")} />
          </Row>
          <Row label="description" hint="for the model: what it does, when to use it" pointer={`${T}/description`} ctx={ctx} required>
            <textarea
              className={`wf-input${ctx.placed.get(`${T}/description`)?.length ? " wf-invalid" : ""}`}
              data-testid={`field-${T}/description`}
              rows={2}
              value={String(tool.description ?? "")}
              placeholder="Look up an order by its id"
              onChange={(e) => set(["description"], e.target.value)}
            />
          </Row>
          <div className="wf-label">what it does <span className="wf-hint">exactly one</span></div>
          <div className="wf-seg" role="radiogroup">
            {TOOL_KINDS.map((k) => (
              <label key={k} className={`wf-seg-item${kind === k ? " is-on" : ""}`}>
                <input type="radio" name={`${T}-kind`} data-testid={`field-${T}/kind-${k}`} checked={kind === k} onChange={() => onSwitch(k)} />
                {KIND_ICON[k]} {KIND_SHORT[k]}
              </label>
            ))}
          </div>
          {kind === "http" ? <HttpTool t={tool.http as Obj} P={`${T}/http`} ctx={ctx} scope={scope} set={(path, v) => set(["http", ...path], v)} /> : null}
          {kind === "subflow" ? (
            <div className="wf-tool-kind-box">
              <Row label="workflow" hint="a deployed workflow" pointer={`${T}/subflow/workflow`} ctx={ctx} required>
                <Text pointer={`${T}/subflow/workflow`} value={(tool.subflow as Obj).workflow} ctx={ctx} placeholder="fraud-check" onChange={(v) => set(["subflow", "workflow"], v ?? "")} />
              </Row>
              <Row label="input" hint="expression; args = the model's arguments" pointer={`${T}/subflow/input`} ctx={ctx}>
                <Code pointer={`${T}/subflow/input`} value={(tool.subflow as Obj).input} ctx={ctx} kind="expression" scope={scope} placeholder="args (default)" onChange={(v) => set(["subflow", "input"], v)} />
              </Row>
            </div>
          ) : null}
          {kind === "kv" ? <KvTool t={tool.kv as Obj} P={`${T}/kv`} ctx={ctx} scope={scope} set={(path, v) => set(["kv", ...path], v)} /> : null}
          <Row label="parameters" hint="JSON Schema of the arguments the model decides" pointer={`${T}/parameters`} ctx={ctx}>
            <JsonText pointer={`${T}/parameters`} value={tool.parameters} ctx={ctx} object rows={4} placeholder={'{"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}'} onChange={(v) => set(["parameters"], v)} />
          </Row>
          <Row label="set it myself" hint="arguments the model cannot change (text with {{ }} or JSON)" pointer={`${T}/fixed`} ctx={ctx}>
            <Pairs pointer={`${T}/fixed`} value={tool.fixed} ctx={ctx} valueKind="fixed" scope={scope} keyPlaceholder="currency" valuePlaceholder="EUR" addLabel="argument" onChange={(v) => set(["fixed"], v)} />
          </Row>
          <div className="wf-grid2">
            <Row label="approval" hint="a person says yes first" pointer={`${T}/approval`} ctx={ctx}>
              <select
                className="wf-input"
                data-testid={`field-${T}/approval-mode`}
                value={mode}
                onChange={(e) => {
                  const m = e.target.value as typeof mode;
                  set(["approval"], m === "never" ? undefined : m === "always" ? "always" : "args.get('amount', 0) > 100");
                }}
              >
                <option value="never">never</option>
                <option value="always">always</option>
                <option value="expression">when…</option>
              </select>
            </Row>
            <Row label="max calls" hint="per run" pointer={`${T}/max_calls`} ctx={ctx}>
              <Num pointer={`${T}/max_calls`} value={tool.max_calls} ctx={ctx} integer placeholder="no cap" onChange={(v) => set(["max_calls"], v)} />
            </Row>
          </div>
          {mode === "expression" ? (
            <Row label="ask when" hint="Python expression over args" pointer={`${T}/approval`} ctx={ctx}>
              <Code pointer={`${T}/approval`} value={tool.approval} ctx={ctx} kind="expression" scope={scope} placeholder="args['amount'] > 50" onChange={(v) => set(["approval"], v ?? "always")} />
            </Row>
          ) : null}
          {mode !== "never" ? (
            <Row label="decide within" hint="then the call is rejected" pointer={`${T}/approval_timeout`} ctx={ctx}>
              <Text pointer={`${T}/approval_timeout`} value={tool.approval_timeout} ctx={ctx} nullable placeholder="24h (default)" onChange={(v) => set(["approval_timeout"], v)} />
            </Row>
          ) : null}
        </div>
      )}
    </div>
  );
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

function HttpTool({ t, P, ctx, scope, set }: { t: Obj; P: string; ctx: Ctx; scope: ScopeName[]; set: (path: string[], v: unknown) => void }) {
  const auth = (t.auth ?? null) as Obj | null;
  const authType = auth ? String(auth.type ?? "bearer") : "none";
  return (
    <div className="wf-tool-kind-box">
      <Row label="method" pointer={`${P}/method`} ctx={ctx} className="wf-method">
        <select className="wf-input" data-testid={`field-${P}/method`} value={String(t.method ?? "GET")} onChange={(e) => set(["method"], e.target.value)}>
          {METHODS.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
      </Row>
      <Row label="URL" hint="template; its host is fixed, args fill in path and query" pointer={`${P}/url`} ctx={ctx} required>
        <Code pointer={`${P}/url`} value={t.url} ctx={ctx} kind="template" scope={scope} placeholder="https://shop.example.com/orders/{{ args['order_id'] }}" onChange={(v) => set(["url"], v ?? "")} />
      </Row>
      <Row label="headers" pointer={`${P}/headers`} ctx={ctx}>
        <Pairs pointer={`${P}/headers`} value={t.headers} ctx={ctx} valueKind="template" scope={scope} keyPlaceholder="Accept" valuePlaceholder="application/json" addLabel="header" onChange={(v) => set(["headers"], v)} />
      </Row>
      <Row label="query" pointer={`${P}/query`} ctx={ctx}>
        <Pairs pointer={`${P}/query`} value={t.query} ctx={ctx} valueKind="template" scope={scope} keyPlaceholder="q" valuePlaceholder="{{ args['q'] }}" addLabel="parameter" onChange={(v) => set(["query"], v)} />
      </Row>
      <Row label="body" hint="expression (JSON); args = the arguments" pointer={`${P}/body`} ctx={ctx}>
        <Code pointer={`${P}/body`} value={t.body} ctx={ctx} kind="expression" scope={scope} placeholder="None (no body), or args" onChange={(v) => set(["body"], v)} />
      </Row>
      <Row label="auth" hint="the host adds the secret" pointer={`${P}/auth`} ctx={ctx}>
        <div className="wf-auth">
          <select
            className="wf-input"
            data-testid={`field-${P}/auth/type`}
            value={authType}
            onChange={(e) => {
              const v = e.target.value;
              if (v === "none") set(["auth"], undefined);
              else if (v === "basic") set(["auth"], { type: "basic", username: String(auth?.username ?? ""), secret: String(auth?.secret ?? "") });
              else if (v === "header") set(["auth"], { type: "header", header: String(auth?.header ?? "X-Api-Key"), secret: String(auth?.secret ?? "") });
              else set(["auth"], { type: "bearer", secret: String(auth?.secret ?? "") });
            }}
          >
            <option value="none">none</option>
            <option value="bearer">bearer token</option>
            <option value="basic">basic (user + password)</option>
            <option value="header">key in a header</option>
          </select>
          {auth ? (
            <>
              {authType === "basic" ? <Text pointer={`${P}/auth/username`} value={auth.username} ctx={ctx} placeholder="user name" onChange={(v) => set(["auth", "username"], v ?? "")} /> : null}
              {authType === "header" ? <Text pointer={`${P}/auth/header`} value={auth.header} ctx={ctx} placeholder="X-Api-Key" onChange={(v) => set(["auth", "header"], v ?? "")} /> : null}
              <Text pointer={`${P}/auth/secret`} value={auth.secret} ctx={ctx} placeholder="secret name, e.g. SHOP_TOKEN" onChange={(v) => set(["auth", "secret"], v ?? "")} />
            </>
          ) : null}
        </div>
        {["type", "secret", "username", "header"].map((k) => (
          <FieldErrors key={k} problems={ctx.placed.get(`${P}/auth/${k}`)} pointer={`${P}/auth/${k}`} />
        ))}
      </Row>
      <Row label="timeout" hint="seconds per call" pointer={`${P}/timeout_seconds`} ctx={ctx}>
        <Num pointer={`${P}/timeout_seconds`} value={t.timeout_seconds} ctx={ctx} placeholder="30 (default)" onChange={(v) => set(["timeout_seconds"], v)} />
      </Row>
    </div>
  );
}

function KvTool({ t, P, ctx, scope, set }: { t: Obj; P: string; ctx: Ctx; scope: ScopeName[]; set: (path: string[], v: unknown) => void }) {
  const op = t.op === "set" ? "set" : "get";
  return (
    <div className="wf-tool-kind-box">
      <div className="wf-grid2">
        <Row label="op" pointer={`${P}/op`} ctx={ctx} required>
          <select
            className="wf-input"
            data-testid={`field-${P}/op`}
            value={op}
            onChange={(e) => {
              const next = { ...t, op: e.target.value } as Obj;
              if (e.target.value === "get") {
                delete next.value;
                delete next.ttl_seconds;
              } else next.value = next.value ?? "args['value']";
              set([], next);
            }}
          >
            <option value="get">get (read)</option>
            <option value="set">set (write)</option>
          </select>
        </Row>
        <Row label="namespace" pointer={`${P}/namespace`} ctx={ctx} required>
          <Text pointer={`${P}/namespace`} value={t.namespace} ctx={ctx} placeholder="notes" onChange={(v) => set(["namespace"], v ?? "")} />
        </Row>
      </div>
      <Row label="key" hint="template" pointer={`${P}/key`} ctx={ctx} required>
        <Code pointer={`${P}/key`} value={t.key} ctx={ctx} kind="template" scope={scope} placeholder="{{ args['id'] }}" onChange={(v) => set(["key"], v ?? "")} />
      </Row>
      {op === "set" ? (
        <>
          <Row label="value" hint="expression" pointer={`${P}/value`} ctx={ctx} required>
            <Code pointer={`${P}/value`} value={t.value} ctx={ctx} kind="expression" scope={scope} placeholder="args['note']" onChange={(v) => set(["value"], v)} />
          </Row>
          <Row label="expires after" hint="seconds" pointer={`${P}/ttl_seconds`} ctx={ctx}>
            <Num pointer={`${P}/ttl_seconds`} value={t.ttl_seconds} ctx={ctx} integer placeholder="never" onChange={(v) => set(["ttl_seconds"], v)} />
          </Row>
        </>
      ) : null}
    </div>
  );
}
