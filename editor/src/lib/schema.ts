// The DSL JSON Schema from the server (GET /api/dsl/schema) drives the palette and the inspector forms.
export type JSONSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JSONSchema>;
  required?: string[];
  items?: JSONSchema;
  additionalProperties?: boolean | JSONSchema;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  oneOf?: JSONSchema[];
  anyOf?: JSONSchema[];
  pattern?: string;
  "x-wasmflow"?: "expression" | "template" | "code";
  "x-wasmflow-scope"?: string;
  [key: string]: unknown;
};

export interface NodeTypeInfo {
  type: string;
  category: string;
  summary: string;
  ports: string[];
  retry: boolean;
  output: string;
  config: JSONSchema;
}

export interface DslSchema {
  root: JSONSchema & { $defs: Record<string, JSONSchema> };
  types: NodeTypeInfo[];
  byType: Map<string, NodeTypeInfo>;
}

export function loadSchema(raw: Record<string, unknown>): DslSchema {
  const root = raw as DslSchema["root"];
  const meta = (raw["x-wasmflow-node-types"] ?? {}) as Record<string, Omit<NodeTypeInfo, "type">>;
  const types = Object.entries(meta).map(([type, m]) => ({ ...m, type, config: resolve(root, m.config as JSONSchema) }));
  return { root, types, byType: new Map(types.map((t) => [t.type, t])) };
}

/** Follow a local $ref (#/$defs/...) once. */
export function resolve(root: { $defs?: Record<string, JSONSchema> }, s: JSONSchema | undefined): JSONSchema {
  if (!s) return {};
  if (s.$ref && s.$ref.startsWith("#/$defs/")) return resolve(root, root.$defs?.[s.$ref.slice(8)]);
  return s;
}

/** Palette groups: what a user looks for, not the server's internal categories. */
export const GROUPS: { name: string; types: string[] }[] = [
  { name: "Triggers", types: ["trigger.manual", "trigger.webhook", "trigger.schedule"] },
  { name: "Logic", types: ["branch", "switch", "map", "wait", "fail", "subflow"] },
  { name: "Data", types: ["transform", "kv.get", "kv.set"] },
  { name: "I/O", types: ["http.request", "respond"] },
  { name: "AI", types: ["agent"] },
  { name: "Human", types: ["approval"] },
];

export function paletteGroups(schema: DslSchema): { name: string; types: NodeTypeInfo[] }[] {
  const placed = new Set(GROUPS.flatMap((g) => g.types));
  const groups = GROUPS.map((g) => ({ name: g.name, types: g.types.map((t) => schema.byType.get(t)).filter((t): t is NodeTypeInfo => !!t) }));
  const rest = schema.types.filter((t) => !placed.has(t.type));
  if (rest.length) groups.push({ name: "Other", types: rest });
  return groups.filter((g) => g.types.length);
}

/** Short labels and glyphs per type (the canvas shows these; the schema gives the summary). */
export const TYPE_LABEL: Record<string, { label: string; icon: string; color: string }> = {
  "trigger.manual": { label: "Manual trigger", icon: "▶", color: "#16a34a" },
  "trigger.webhook": { label: "Webhook", icon: "⚡", color: "#16a34a" },
  "trigger.schedule": { label: "Schedule", icon: "◷", color: "#16a34a" },
  "http.request": { label: "HTTP request", icon: "⇄", color: "#2563eb" },
  respond: { label: "Respond", icon: "↩", color: "#2563eb" },
  transform: { label: "Transform", icon: "ƒ", color: "#7c3aed" },
  "kv.get": { label: "KV get", icon: "⬇", color: "#0891b2" },
  "kv.set": { label: "KV set", icon: "⬆", color: "#0891b2" },
  branch: { label: "Branch", icon: "◇", color: "#d97706" },
  switch: { label: "Switch", icon: "☰", color: "#d97706" },
  map: { label: "Map", icon: "⟳", color: "#d97706" },
  wait: { label: "Wait", icon: "◔", color: "#64748b" },
  approval: { label: "Approval", icon: "☑", color: "#db2777" },
  subflow: { label: "Subflow", icon: "⊞", color: "#64748b" },
  fail: { label: "Fail", icon: "✖", color: "#dc2626" },
  agent: { label: "AI agent", icon: "✦", color: "#a21caf" },
};

export function typeLabel(type: string) {
  return TYPE_LABEL[type] ?? { label: type, icon: "●", color: "#64748b" };
}

/** A starter config for a new node: required fields that have an obvious empty value. */
export function starterConfig(type: string): Record<string, unknown> {
  switch (type) {
    case "http.request":
      return { method: "GET", url: "https://api.example.com/" };
    case "transform":
      return { expression: "input" };
    case "branch":
      return { condition: "True" };
    case "switch":
      return { cases: [{ port: "first", when: "True" }] };
    case "map":
      return { items: "[]", body: { nodes: [], edges: [] } };
    case "wait":
      return { duration: "1m" };
    case "approval":
      return { title: "Approve?" };
    case "kv.get":
      return { namespace: "default", key: "key" };
    case "kv.set":
      return { namespace: "default", key: "key", value: "None" };
    case "subflow":
      return { workflow: "other-workflow" };
    case "fail":
      return { message: "failed" };
    case "trigger.schedule":
      return { cron: "0 9 * * 1-5" };
    case "agent":
      return {
        model: { base_url: "https://api.openai.com/v1", model: "gpt-4o-mini", api_key_secret: "OPENAI_API_KEY" },
        instructions: "",
        prompt: "{{ input }}",
        tools: [],
      };
    default:
      return {};
  }
}
