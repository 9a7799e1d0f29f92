// A form generated from a JSON Schema (a node type's config): strings, numbers, booleans, enums, objects,
// arrays; user text (x-wasmflow) in CodeMirror; anything the form cannot express as a JSON text field.
// Every input has data-testid="field-<JSON pointer into the document>", and the server's problems at that
// pointer appear under it as data-testid="field-error-<pointer>".
import { memo, useEffect, useState, type ReactNode } from "react";
import { joinPointer, type PlacedProblems } from "../dsl/problems";
import type { Problem } from "../dsl/types";
import { resolve, type JSONSchema } from "../lib/schema";
import { CodeField, type ScopeName } from "./CodeField";
import { orderFields } from "./nodeinfo";

export interface FormCtx {
  root: { $defs?: Record<string, JSONSchema> };
  problems: PlacedProblems;
  scope: ScopeName[];
  bodyScope: ScopeName[];
  /** Path to the field; coalesce key for undo. */
  onEdit: (pointer: string) => void;
}

type Val = unknown;

function typesOf(s: JSONSchema): string[] {
  if (Array.isArray(s.type)) return s.type;
  return s.type ? [s.type] : [];
}

export function FieldErrors({ problems, pointer }: { problems: Problem[] | undefined; pointer: string }) {
  if (!problems?.length) return null;
  return (
    <div className="wf-field-error" data-testid={`field-error-${pointer}`}>
      {problems.map((p, i) => (
        <div key={i}>{p.message}</div>
      ))}
    </div>
  );
}

function Row({ label, hint, pointer, ctx, children, required }: { label: string; hint?: string; pointer: string; ctx: FormCtx; children: ReactNode; required?: boolean }) {
  const problems = ctx.problems.byPointer.get(pointer);
  return (
    <div className={`wf-row${problems?.length ? " wf-row-invalid" : ""}`}>
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

/** A text input that keeps its own text while typing and reports parsed values (numbers, JSON, lists). */
function TextParse({ value, parse, format, testId, invalid, placeholder, multiline, onValue }: {
  value: Val;
  parse: (s: string) => { ok: true; value: Val } | { ok: false; message: string };
  format: (v: Val) => string;
  testId: string;
  invalid?: boolean;
  placeholder?: string;
  multiline?: boolean;
  onValue: (v: Val) => void;
}) {
  const [text, setText] = useState(() => format(value));
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    const p = parse(text);
    if (!p.ok || JSON.stringify(p.value) !== JSON.stringify(value)) {
      setText(format(value));
      setErr(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const change = (s: string) => {
    setText(s);
    const p = parse(s);
    if (p.ok) {
      setErr(null);
      onValue(p.value);
    } else setErr(p.message);
  };
  const cls = `wf-input${invalid || err ? " wf-invalid" : ""}`;
  return (
    <>
      {multiline ? (
        <textarea className={`${cls} wf-json`} data-testid={testId} value={text} placeholder={placeholder} spellCheck={false} onChange={(e) => change(e.target.value)} rows={Math.min(12, Math.max(3, text.split("\n").length))} />
      ) : (
        <input className={cls} data-testid={testId} value={text} placeholder={placeholder} onChange={(e) => change(e.target.value)} />
      )}
      {err ? <div className="wf-local-error">{err}</div> : null}
    </>
  );
}

const jsonParse = (s: string): { ok: true; value: Val } | { ok: false; message: string } => {
  if (!s.trim()) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch (e) {
    return { ok: false, message: `not JSON: ${(e as Error).message}` };
  }
};
const jsonFormat = (v: Val) => (v === undefined ? "" : JSON.stringify(v, null, 2));

function listItemParse(item: JSONSchema, root: FormCtx["root"]) {
  const alts = (item.oneOf ?? item.anyOf ?? [item]).map((a) => resolve(root, a));
  const numeric = alts.some((a) => typesOf(a).some((t) => t === "integer" || t === "number"));
  return (s: string): { ok: true; value: Val } | { ok: false; message: string } => {
    if (!s.trim()) return { ok: true, value: [] };
    const parts = s.split(",").map((p) => p.trim()).filter(Boolean);
    return { ok: true, value: parts.map((p) => (numeric && /^-?\d+(\.\d+)?$/.test(p) ? Number(p) : p)) };
  };
}

export const SchemaField = memo(function SchemaField({ name, schema: raw, value, pointer, ctx, onChange, required, scopeOverride }: {
  name: string;
  schema: JSONSchema;
  value: Val;
  pointer: string;
  ctx: FormCtx;
  onChange: (v: Val) => void;
  required?: boolean;
  scopeOverride?: ScopeName[];
}) {
  const schema = resolve(ctx.root, raw);
  const types = typesOf(schema);
  const nullable = types.includes("null");
  const hint = schema.description;
  const tid = `field-${pointer}`;
  const invalid = !!ctx.problems.byPointer.get(pointer)?.length;
  const def = schema.default;
  const set = (v: Val) => {
    ctx.onEdit(pointer);
    onChange(v);
  };

  if (schema["x-wasmflow"]) {
    const kind = schema["x-wasmflow"];
    const scope = scopeOverride ?? (schema["x-wasmflow-scope"] === "body" ? ctx.bodyScope : ctx.scope);
    return (
      <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
        <CodeField
          value={typeof value === "string" ? value : ""}
          kind={kind}
          scope={scope}
          testId={tid}
          invalid={invalid}
          onChange={(s) => set(s === "" ? (nullable ? null : required ? "" : undefined) : s)}
        />
      </Row>
    );
  }
  if (schema.enum) {
    const cur = value === undefined ? def : value;
    return (
      <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
        <select className={`wf-input${invalid ? " wf-invalid" : ""}`} data-testid={tid} value={cur === undefined ? "" : String(cur)} onChange={(e) => set(e.target.value === "" ? undefined : schema.enum!.find((x) => String(x) === e.target.value))}>
          {cur === undefined ? <option value="">(choose)</option> : null}
          {schema.enum.map((x) => (
            <option key={String(x)} value={String(x)}>
              {String(x)}
              {x === def ? " (default)" : ""}
            </option>
          ))}
        </select>
      </Row>
    );
  }
  if (types.includes("boolean") && types.length <= 2) {
    const cur = value === undefined ? def : value;
    return (
      <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
        <label className="wf-check">
          <input type="checkbox" data-testid={tid} checked={!!cur} onChange={(e) => set(e.target.checked)} /> {cur ? "yes" : "no"}
        </label>
      </Row>
    );
  }
  if ((types.includes("integer") || types.includes("number")) && types.every((t) => t === "integer" || t === "number" || t === "null")) {
    return (
      <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
        <TextParse
          value={value}
          testId={tid}
          invalid={invalid}
          placeholder={def !== undefined && def !== null ? `${def} (default)` : ""}
          format={(v) => (v === undefined || v === null ? "" : String(v))}
          parse={(s) => (!s.trim() ? { ok: true, value: nullable && value === null ? null : undefined } : isNaN(Number(s)) ? { ok: false, message: "a number" } : { ok: true, value: Number(s) })}
          onValue={set}
        />
      </Row>
    );
  }
  if (types.length && types.every((t) => t === "string" || t === "null")) {
    return (
      <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
        <input
          className={`wf-input${invalid ? " wf-invalid" : ""}`}
          data-testid={tid}
          value={typeof value === "string" ? value : ""}
          placeholder={typeof def === "string" ? `${def} (default)` : ""}
          onChange={(e) => set(e.target.value === "" ? (nullable ? null : required ? "" : undefined) : e.target.value)}
        />
      </Row>
    );
  }
  if (types.includes("array") && schema.items) {
    const item = resolve(ctx.root, schema.items);
    const itemTypes = typesOf(item);
    if (item.properties) {
      const list = Array.isArray(value) ? value : [];
      return (
        <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
          <div className="wf-list" data-testid={tid}>
            {list.map((el, i) => (
              <div className="wf-list-item" key={i}>
                <ObjectFields schema={item} value={el} pointer={joinPointer(pointer, i)} ctx={ctx} onChange={(v) => set(list.map((x, j) => (j === i ? v : x)))} />
                <button className="wf-btn wf-btn-ghost wf-btn-xs" onClick={() => set(list.filter((_, j) => j !== i))} data-testid={`${tid}-remove-${i}`}>
                  Remove
                </button>
              </div>
            ))}
            <button className="wf-btn wf-btn-xs" data-testid={`${tid}-add`} onClick={() => set([...list, {}])}>
              + Add
            </button>
          </div>
        </Row>
      );
    }
    if (item.enum || itemTypes.every((t) => t === "string" || t === "integer" || t === "number") || item.oneOf) {
      return (
        <Row label={name} hint={hint ? `${hint} (comma-separated)` : "comma-separated"} pointer={pointer} ctx={ctx} required={required}>
          <TextParse value={value} testId={tid} invalid={invalid} placeholder={Array.isArray(def) ? `${def.join(", ")} (default)` : ""} format={(v) => (Array.isArray(v) ? v.join(", ") : "")} parse={listItemParse(item, ctx.root)} onValue={set} />
        </Row>
      );
    }
  }
  if (types.includes("object") && schema.additionalProperties && typeof schema.additionalProperties === "object" && !schema.properties) {
    const inner = resolve(ctx.root, schema.additionalProperties);
    const obj = (value && typeof value === "object" ? value : {}) as Record<string, Val>;
    return (
      <Row label={name} hint={hint} pointer={pointer} ctx={ctx} required={required}>
        <KeyValue obj={obj} inner={inner} pointer={pointer} ctx={ctx} onChange={set} />
      </Row>
    );
  }
  if (types.includes("object") && schema.properties && !nullable) {
    return (
      <fieldset className="wf-fieldset">
        <legend>{name}</legend>
        <ObjectFields schema={schema} value={value} pointer={pointer} ctx={ctx} onChange={set} />
        <FieldErrors problems={ctx.problems.byPointer.get(pointer)} pointer={pointer} />
      </fieldset>
    );
  }
  // Anything else (unions such as auth, free JSON such as kv.get default): JSON text.
  return (
    <Row label={name} hint={hint ? `${hint} (JSON)` : "JSON"} pointer={pointer} ctx={ctx} required={required}>
      <TextParse value={value} testId={tid} invalid={invalid} multiline placeholder={def !== undefined ? `${JSON.stringify(def)} (default)` : "JSON"} format={jsonFormat} parse={jsonParse} onValue={set} />
    </Row>
  );
});

function KeyValue({ obj, inner, pointer, ctx, onChange }: { obj: Record<string, Val>; inner: JSONSchema; pointer: string; ctx: FormCtx; onChange: (v: Val) => void }) {
  const entries = Object.entries(obj);
  const [newKey, setNewKey] = useState("");
  return (
    <div className="wf-kv" data-testid={`field-${pointer}`}>
      {entries.map(([k, v]) => {
        const p = joinPointer(pointer, k);
        return (
          <div className="wf-kv-row" key={k}>
            <span className="wf-kv-key">{k}</span>
            <div className="wf-kv-val">
              {inner["x-wasmflow"] ? (
                <CodeField value={typeof v === "string" ? v : ""} kind={inner["x-wasmflow"]} scope={ctx.scope} testId={`field-${p}`} invalid={!!ctx.problems.byPointer.get(p)?.length} onChange={(s) => { ctx.onEdit(p); onChange({ ...obj, [k]: s }); }} />
              ) : (
                <input className="wf-input" data-testid={`field-${p}`} value={String(v ?? "")} onChange={(e) => { ctx.onEdit(p); onChange({ ...obj, [k]: e.target.value }); }} />
              )}
              <FieldErrors problems={ctx.problems.byPointer.get(p)} pointer={p} />
            </div>
            <button className="wf-btn wf-btn-ghost wf-btn-xs" title="remove" onClick={() => { const n = { ...obj }; delete n[k]; onChange(n); }}>
              ✕
            </button>
          </div>
        );
      })}
      <div className="wf-kv-row">
        <input className="wf-input wf-kv-new" placeholder="add key…" value={newKey} data-testid={`field-${pointer}-newkey`} onChange={(e) => setNewKey(e.target.value)} onKeyDown={(e) => {
          if (e.key === "Enter" && newKey.trim() && !(newKey in obj)) {
            onChange({ ...obj, [newKey.trim()]: "" });
            setNewKey("");
          }
        }} />
      </div>
    </div>
  );
}

/** The fields of an object schema. ``nodeType``: a node's config, in the order a person fills it in
 * (ui/nodeinfo.ts FIELD_ORDER); otherwise required fields first, then the schema's order. */
export function ObjectFields({ schema, value, pointer, ctx, onChange, skip, nodeType }: { schema: JSONSchema; value: Val; pointer: string; ctx: FormCtx; onChange: (v: Val) => void; skip?: string[]; nodeType?: string }) {
  const obj = (value && typeof value === "object" && !Array.isArray(value) ? value : {}) as Record<string, Val>;
  let props = Object.entries(schema.properties ?? {}).filter(([k]) => !skip?.includes(k));
  const req = new Set(schema.required ?? []);
  if (nodeType) {
    const byKey = new Map(props);
    props = orderFields(nodeType, props.map(([k]) => k), req).map((k) => [k, byKey.get(k)!]);
  } else props.sort(([a], [b]) => Number(req.has(b)) - Number(req.has(a)));
  return (
    <>
      {props.map(([k, s]) => (
        <SchemaField
          key={k}
          name={k}
          schema={s}
          value={obj[k]}
          pointer={joinPointer(pointer, k)}
          ctx={ctx}
          required={req.has(k)}
          onChange={(v) => {
            const next = { ...obj };
            if (v === undefined) delete next[k];
            else next[k] = v as never;
            onChange(next);
          }}
        />
      ))}
    </>
  );
}
