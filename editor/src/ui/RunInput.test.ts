import { describe, expect, it } from "vitest";
import { parseWrapper, withBody } from "./RunInput";

describe("webhook run input as a body", () => {
  it("puts the body into the request, keeping what the request already says", () => {
    const start = JSON.stringify({ method: "PUT", path: "/x", headers: {}, query: { a: "1" }, body: {} });
    expect(JSON.parse(withBody(parseWrapper(start), '{"n": 21}'))).toEqual({ method: "PUT", path: "/x", headers: {}, query: { a: "1" }, body: { n: 21 } });
  });
  it("defaults the rest of the request", () => {
    expect(JSON.parse(withBody(null, "[1, 2]"))).toEqual({ method: "POST", path: "/", headers: { "content-type": "application/json" }, query: {}, body: [1, 2] });
    expect(JSON.parse(withBody({}, "  ")).body).toEqual({});
  });
  it("keeps a body that is not JSON as typed, so the run input is not JSON either (the run refuses it)", () => {
    const s = withBody({}, "{n: 1");
    expect(s).toContain('"body": {n: 1');
    expect(parseWrapper(s)).toBeNull();
  });
});
