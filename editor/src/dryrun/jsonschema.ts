// A small JSON Schema check for the dry run's agent tools (arguments against a tool's parameters, as the
// server host checks them): type, properties, required, additionalProperties, items, enum, const, minimum,
// maximum, minLength, maxLength, minItems, maxItems. Keywords outside that subset are not checked here.
type Schema = Record<string, unknown>;

const typeOf = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v;

function fits(v: unknown, type: string): boolean {
  const t = typeOf(v);
  return t === type || (type === "number" && t === "integer");
}

const show = (v: unknown) => JSON.stringify(v);

/** The problems of `value` against `schema`, each "args.<path>: <what>" (sorted, like the server's). */
export function schemaProblems(value: unknown, schema: unknown, path = "args"): string[] {
  if (!schema || typeof schema !== "object") return [];
  const s = schema as Schema;
  const out: string[] = [];
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => fits(value, t))) return [`${path}: ${show(value)} is not of type ${types.map((t) => `'${t}'`).join(", ")}`];
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) out.push(`${path}: ${show(value)} is not one of ${show(s.enum)}`);
  if ("const" in s && JSON.stringify(s.const) !== JSON.stringify(value)) out.push(`${path}: ${show(s.const)} was expected`);
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) out.push(`${path}: ${value} is less than the minimum of ${s.minimum}`);
    if (typeof s.maximum === "number" && value > s.maximum) out.push(`${path}: ${value} is greater than the maximum of ${s.maximum}`);
  }
  if (typeof value === "string") {
    if (typeof s.minLength === "number" && value.length < s.minLength) out.push(`${path}: ${show(value)} is too short`);
    if (typeof s.maxLength === "number" && value.length > s.maxLength) out.push(`${path}: ${show(value)} is too long`);
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === "number" && value.length < s.minItems) out.push(`${path}: ${show(value)} is too short`);
    if (typeof s.maxItems === "number" && value.length > s.maxItems) out.push(`${path}: ${show(value)} is too long`);
    if (s.items && typeof s.items === "object") value.forEach((v, i) => out.push(...schemaProblems(v, s.items, `${path}[${i}]`)));
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, unknown>;
    for (const k of Array.isArray(s.required) ? (s.required as string[]) : []) if (!(k in obj)) out.push(`${path}: '${k}' is a required property`);
    for (const [k, v] of Object.entries(obj)) {
      if (k in props) out.push(...schemaProblems(v, props[k], `${path}.${k}`));
      else if (s.additionalProperties === false) out.push(`${path}: additional property '${k}' is not allowed`);
      else if (s.additionalProperties && typeof s.additionalProperties === "object") out.push(...schemaProblems(v, s.additionalProperties, `${path}.${k}`));
    }
  }
  return out.sort();
}

/** The server's one-line verdict on a tool call's arguments, or null when they are valid. */
export function argumentsProblem(name: string, args: unknown, parameters: unknown): string | null {
  if (!args || typeof args !== "object" || Array.isArray(args)) return `the arguments of '${name}' must be an object`;
  const found = schemaProblems(args, parameters ?? { type: "object" });
  if (!found.length) return null;
  const more = found.length > 3 ? ` (and ${found.length - 3} more)` : "";
  return `the arguments of '${name}' are not valid: ${found.slice(0, 3).join("; ")}${more}`;
}
