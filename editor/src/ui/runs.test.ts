import { describe, expect, it } from "vitest";
import type { RunSummary } from "../lib/api";
import { filtersHash, formatStarted, inputProblemText, inputsHint, jsonProblem, mergeFirstPage, parseFilters, runDuration, runHref, runOfHash, versionLabel } from "./runs";

const run = (id: string, extra: Partial<RunSummary> = {}): RunSummary => ({ id, workflow: "w", status: "succeeded", ...extra });

describe("runs page filters and links", () => {
  it("keeps the filters in the hash and reads them back; an unknown state is no filter", () => {
    expect(filtersHash({ status: "failed", workflow: "order-sync" })).toBe("#/runs?status=failed&workflow=order-sync");
    expect(filtersHash({ status: "", workflow: "" })).toBe("#/runs");
    expect(parseFilters("#/runs?status=failed&workflow=order-sync")).toEqual({ status: "failed", workflow: "order-sync" });
    expect(parseFilters("#/runs?status=bogus")).toEqual({ status: "", workflow: "" });
    expect(parseFilters("#/runs")).toEqual({ status: "", workflow: "" });
  });
  it("links a run to its workflow's editor with the run open", () => {
    const href = runHref({ id: "0abc", workflow: "lead-routing" });
    expect(href).toBe("#/w/lead-routing?run=0abc");
    expect(runOfHash(href)).toBe("0abc");
    expect(runOfHash("#/w/lead-routing")).toBeNull();
  });
});

describe("refreshing the first page", () => {
  it("replaces what the first page covers and keeps the older pages loaded", () => {
    const shown = [run("09"), run("08", { status: "running" }), run("07"), run("06"), run("05")];
    const fresh = [run("0a"), run("09"), run("08"), run("07")]; // a new run; 08 finished meanwhile
    const merged = mergeFirstPage(fresh, true, shown);
    expect(merged.map((r) => r.id)).toEqual(["0a", "09", "08", "07", "06", "05"]);
    expect(merged[2].status).toBe("succeeded");
  });
  it("is the fresh page alone when that is everything", () => {
    expect(mergeFirstPage([run("02")], false, [run("02"), run("01")]).map((r) => r.id)).toEqual(["02"]);
  });
});

describe("run columns", () => {
  const start = "2026-12-03T08:00:00Z";
  it("measures a finished run, and an active one up to now", () => {
    expect(runDuration({ status: "succeeded", started_at: start, finished_at: "2026-12-03T08:00:01.500Z" }, 0)).toBe("1.50 s");
    expect(runDuration({ status: "running", started_at: start, finished_at: null }, Date.parse(start) + 65_000)).toBe("1m 5s…");
    expect(runDuration({ status: "queued", started_at: null, finished_at: null }, Date.now())).toBe("");
  });
  it("shows the time of day for today, with the date for an earlier day", () => {
    const now = new Date("2026-12-03T12:00:00");
    expect(formatStarted("2026-12-03T09:05:07", now)).toMatch(/09.05.07/);
    expect(formatStarted("2026-11-30T09:05:07", now)).toMatch(/30/);
    expect(formatStarted(null, now)).toBe("");
  });
  it("names the deployed version, else marks a test run by its digest", () => {
    expect(versionLabel({ version: 3, digest: "abc" })).toBe("v3");
    expect(versionLabel({ version: null, digest: "0123456789abcdef" })).toBe("test #01234567");
  });
});

describe("server run input", () => {
  it("says why the input is not JSON; empty is the empty object", () => {
    expect(jsonProblem('{"a": 1}')).toBeNull();
    expect(jsonProblem("  ")).toBeNull();
    expect(jsonProblem('{"a": ')).toMatch(/^not JSON: /);
  });
  it("reads the server's input problems as lines", () => {
    expect(inputProblemText([{ path: "/input", message: "'email' is a required property" }, { path: "/input/employees", message: "'x' is not of type 'integer'" }])).toEqual([
      "input: 'email' is a required property",
      "input.employees: 'x' is not of type 'integer'",
    ]);
  });
  it("summarises an inputs schema, required fields starred", () => {
    expect(inputsHint({ type: "object", required: ["email"], properties: { email: {}, company: {} } })).toBe("email*, company");
    expect(inputsHint(undefined)).toBe("");
  });
});
