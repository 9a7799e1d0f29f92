import { describe, expect, it } from "vitest";
import { ApiError } from "../lib/api";
import { AUTH_OFF, type Session } from "../lib/session";
import { expiresText, fieldError, grantText, isSettingsHash, parseDays, refusalText, secretNameProblem, secretRows, settingsTabOf, tokenRoles, tokenState, visibleTabs } from "./settings";

const as = (role: string): Session => ({ auth: true, user: { email: `${role}@example.com`, role }, csrf: "c" });

describe("settings routes and tabs", () => {
  it("reads the tab from the hash", () => {
    expect(settingsTabOf("#/settings/tokens")).toBe("tokens");
    expect(settingsTabOf("#/settings/secrets?x=1")).toBe("secrets");
    expect(settingsTabOf("#/settings")).toBeNull();
    expect(settingsTabOf("#/settings/nope")).toBeNull();
    expect(isSettingsHash("#/settings")).toBe(true);
    expect(isSettingsHash("#/settings/users")).toBe(true);
    expect(isSettingsHash("#/settingsx")).toBe(false);
    expect(isSettingsHash("#/w/settings")).toBe(false);
  });

  it("hides Users below admin, and shows everything with auth off", () => {
    expect(visibleTabs(as("admin"))).toEqual(["users", "tokens", "secrets"]);
    expect(visibleTabs(as("editor"))).toEqual(["tokens", "secrets"]);
    expect(visibleTabs(as("viewer"))).toEqual(["tokens", "secrets"]);
    expect(visibleTabs(AUTH_OFF)).toEqual(["users", "tokens", "secrets"]);
    const instanceAdmin: Session = { auth: true, user: { email: "a@example.com", role: "viewer", instance_admin: true } as Session["user"], csrf: "c" };
    expect(visibleTabs(instanceAdmin)).toEqual(["users", "tokens", "secrets"]);
    const workspaceAdmin: Session = { auth: true, user: { email: "w@example.com", role: "admin", instance_admin: false } as Session["user"], csrf: "c" };
    expect(visibleTabs(workspaceAdmin)).toEqual(["tokens", "secrets"]);
  });
});

describe("tokens", () => {
  it("offers roles up to the user's", () => {
    expect(tokenRoles("operator")).toEqual(["viewer", "operator"]);
    expect(tokenRoles("admin")).toEqual(["viewer", "operator", "editor", "admin"]);
    expect(tokenRoles(undefined)).toEqual(["viewer", "operator", "editor", "admin"]);
  });

  it("tells active, expired and revoked apart, and says when it expires", () => {
    const now = Date.parse("2026-12-04T12:00:00Z");
    expect(tokenState({ revoked: false, expires_at: "2026-12-11T12:00:00Z" }, now)).toBe("active");
    expect(tokenState({ revoked: false, expires_at: "2026-12-01T12:00:00Z" }, now)).toBe("expired");
    expect(tokenState({ revoked: true, expires_at: null }, now)).toBe("revoked");
    expect(expiresText("2026-12-11T12:00:00Z", now)).toBe("in 7 days");
    expect(expiresText("2026-12-04T17:00:00Z", now)).toBe("in 5 h");
    expect(expiresText("2026-12-04T12:20:00Z", now)).toBe("in 20 min");
    expect(expiresText("2026-12-04T11:00:00Z", now)).toBe("expired");
    expect(expiresText(null, now)).toBe("never");
  });

  it("reads the days of validity", () => {
    expect(parseDays(" 30 ")).toEqual({ days: 30 });
    expect(parseDays("0")).toHaveProperty("error");
    expect(parseDays("1.5")).toHaveProperty("error");
    expect(parseDays("")).toHaveProperty("error");
    expect(parseDays("9999")).toHaveProperty("error");
  });
});

describe("server errors", () => {
  const err = (status: number, error: Record<string, unknown>) => new ApiError(status, String(error.code), String(error.message), { error });

  it("puts a message under the field the server names", () => {
    const weak = err(400, { code: "weak_password", message: "the password must have at least 12 characters", details: { field: "password" } });
    expect(fieldError(weak, ["email", "password"])).toEqual({ field: "password", message: "the password must have at least 12 characters" });
    const other = err(400, { code: "x", message: "odd", details: { field: "body" } });
    expect(fieldError(other, ["email", "password"])).toEqual({ field: null, message: "odd" });
    expect(fieldError(new Error("offline"), ["email"])).toEqual({ field: null, message: "offline" });
  });

  it("says a 403 in words, and nothing else", () => {
    const forbidden = err(403, { code: "forbidden", message: "v@example.com is viewer; this needs the role admin or higher (admin)" });
    expect(refusalText(forbidden, "users")).toBe("You may not manage users: v@example.com is viewer; this needs the role admin or higher (admin).");
    expect(refusalText(err(500, { code: "x", message: "boom" }), "users")).toBeNull();
  });
});

describe("secrets", () => {
  it("lists names, plain or with grants, sorted", () => {
    expect(secretRows(["B", "A"])).toEqual([{ name: "A" }, { name: "B" }]);
    const rows = secretRows([{ name: "ERP", workflows: ["order-sync"], updated_at: "2026-12-01T00:00:00Z" }, { name: "ALL", workflows: null }]);
    expect(rows.map((r) => [r.name, grantText(r.workflows)])).toEqual([
      ["ALL", "All workflows"],
      ["ERP", "order-sync"],
    ]);
    expect(grantText([])).toBe("No workflows");
  });

  it("checks a name as the server does", () => {
    expect(secretNameProblem("GITHUB_TOKEN")).toBeNull();
    expect(secretNameProblem("github")).toMatch(/upper-case/);
    expect(secretNameProblem("")).toMatch(/needed/);
  });
});
