import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError } from "./api";
import { allows, getSession, needsText, sessionCan, setSession, waitText } from "./session";

describe("roles and permissions (app/auth.py)", () => {
  it("each role includes the ones before it", () => {
    expect(allows("viewer", "read")).toBe(true);
    expect(allows("viewer", "run")).toBe(false);
    expect(allows("operator", "run")).toBe(true);
    expect(allows("operator", "design")).toBe(false);
    expect(allows("editor", "design")).toBe(true);
    expect(allows("editor", "admin")).toBe(false);
    expect(allows("admin", "admin")).toBe(true);
    expect(allows("nobody", "read")).toBe(false);
  });
  it("with auth off everything is allowed; signed out nothing", () => {
    expect(sessionCan({ auth: false, user: null, csrf: null }, "admin")).toBe(true);
    expect(sessionCan(null, "design")).toBe(true);
    expect(sessionCan({ auth: true, user: null, csrf: null }, "read")).toBe(false);
    const viewer = { auth: true, user: { email: "v@example.com", role: "viewer" }, csrf: "c" };
    expect(needsText(viewer, "design")).toBe("needs the role editor or higher; you are viewer");
    expect(needsText(viewer, "read")).toBeNull();
  });
  it("says a wait in words", () => {
    expect(waitText(30)).toBe("30 s");
    expect(waitText(900)).toBe("15 min");
  });
});

describe("requests with a session", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    setSession(null);
  });
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    vi.fn(async () => new Response(JSON.stringify(body), { status, headers }));

  it("sends the CSRF token on writes only", async () => {
    setSession({ auth: true, user: { email: "e@example.com", role: "editor" }, csrf: "tok" });
    const fetch = answer(200, {});
    vi.stubGlobal("fetch", fetch);
    await api.list();
    await api.deploy("wf", "d");
    const headers = (fetch.mock.calls as unknown as [string, RequestInit][]).map((c) => c[1].headers as Record<string, string>);
    expect(headers[0]["X-CSRF-Token"]).toBeUndefined();
    expect(headers[1]["X-CSRF-Token"]).toBe("tok");
  });

  it("a 401 signs out (the app shows the sign-in page); a 401 of the sign-in does not", async () => {
    setSession({ auth: true, user: { email: "e@example.com", role: "editor" }, csrf: "tok" });
    vi.stubGlobal("fetch", answer(401, { error: { code: "unauthenticated", message: "sign in" } }));
    await expect(api.list()).rejects.toBeInstanceOf(ApiError);
    expect(getSession()).toEqual({ auth: true, user: null, csrf: null });
  });

  it("a throttled sign-in carries the wait", async () => {
    setSession({ auth: true, user: null, csrf: null });
    vi.stubGlobal("fetch", answer(429, { error: { code: "too_many_attempts", message: "wait" } }, { "Retry-After": "901" }));
    const err = (await api.login("a@example.com", "x").catch((e) => e)) as ApiError;
    expect(err.status).toBe(429);
    expect(err.retryAfter).toBe(901);
  });
});
