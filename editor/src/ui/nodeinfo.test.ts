import { describe, expect, it } from "vitest";
import { FIELD_ORDER, HELP, matchesType, orderFields, searchTypes, SYNONYMS } from "./nodeinfo";
import { TYPE_LABEL } from "../lib/schema";

const types = Object.keys(TYPE_LABEL).map((type) => ({ type, summary: `summary of ${type}` }));
const found = (q: string) => searchTypes(types, q).map((t) => t.type);

describe("node search", () => {
  it("finds types by what a new user types, not only by name", () => {
    expect(found("if")[0]).toBe("branch");
    expect(found("condition")).toContain("branch");
    expect(found("loop")[0]).toBe("map");
    expect(found("each")).toContain("map");
    expect(found("for")).toContain("map");
    expect(found("json")[0]).toBe("transform");
    expect(found("python")).toContain("transform");
    expect(found("code")).toContain("transform");
    expect(found("api")).toContain("http.request");
    expect(found("delay")).toEqual(["wait"]);
  });
  it("finds the AI agent by agent, ai, llm, model, gpt, and two letters only at the start of a word", () => {
    for (const q of ["agent", "ai", "AI", "llm", "model", "gpt", "openai", "ollama", "chat"]) expect(found(q)[0], q).toBe("agent");
    expect(found("ai")).toEqual(["agent"]); // not wait or fail
  });
  it("still finds names and summaries, and ranks a name match first", () => {
    expect(found("http")[0]).toBe("http.request");
    expect(found("webhook")[0]).toBe("trigger.webhook");
    expect(matchesType({ type: "respond", summary: "Answers the webhook request." }, "answers")).toBe(true);
    expect(found("zzz")).toEqual([]);
    expect(found("")).toHaveLength(types.length);
  });
  it("has synonyms and help for every type the editor labels", () => {
    for (const t of Object.keys(TYPE_LABEL)) {
      expect(SYNONYMS[t]?.length, t).toBeGreaterThan(0);
      expect(HELP[t], t).toBeTruthy();
    }
  });
});

describe("field order", () => {
  it("orders http.request as a person fills it in", () => {
    const alphabetical = ["allowed_hosts", "auth", "body", "expect_status", "headers", "idempotency", "method", "query", "response", "timeout_seconds", "url"];
    expect(orderFields("http.request", alphabetical, ["url"])).toEqual(FIELD_ORDER["http.request"]);
  });
  it("puts unknown fields after the listed ones, required first, and keeps unknown types as given", () => {
    expect(orderFields("kv.get", ["zeta", "default", "alpha", "key", "namespace"], ["alpha"])).toEqual(["namespace", "key", "default", "alpha", "zeta"]);
    expect(orderFields("no.such.type", ["b", "a", "c"], ["c"])).toEqual(["c", "b", "a"]);
  });
});

describe("node search in descriptions", () => {
  it("finds a type by a word of its help text, after the name and synonym matches", () => {
    expect(found("parse")[0]).toBe("transform");
    expect(found("parse")).toContain("http.request"); // "a JSON body is parsed"
    expect(found("json").slice(0, 1)).toEqual(["transform"]);
    expect(found("json")).toEqual(expect.arrayContaining(["http.request", "kv.set"]));
    expect(found("suspended")).toEqual(["wait"]);
    expect(found("cron")[0]).toBe("trigger.schedule");
  });
  it("does not search descriptions for short words, which are everywhere", () => {
    expect(found("for")).not.toContain("kv.set"); // "for later runs"
    expect(found("the")).toEqual([]);
  });
});
