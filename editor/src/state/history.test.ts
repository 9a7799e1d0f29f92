import { describe, expect, it } from "vitest";
import { canRedo, canUndo, commit, createHistory, redo, replace, undo } from "./history";

describe("undo/redo", () => {
  it("undoes and redoes steps in order", () => {
    let h = createHistory("a");
    h = commit(h, "b", null, 0);
    h = commit(h, "c", null, 10);
    h = undo(h);
    expect(h.present).toBe("b");
    h = undo(h);
    expect(h.present).toBe("a");
    expect(canUndo(h)).toBe(false);
    h = redo(h);
    expect(h.present).toBe("b");
    expect(canRedo(h)).toBe(true);
  });
  it("a new edit after undo drops the redo branch", () => {
    let h = commit(commit(createHistory(1), 2, null, 0), 3, null, 0);
    h = commit(undo(h), 9, null, 0);
    expect(canRedo(h)).toBe(false);
    expect(undo(h).present).toBe(2);
  });
  it("typing in one field within a second is one step; another field or a pause is a new one", () => {
    let h = createHistory("");
    h = commit(h, "a", "field:/nodes/1/config/url", 0);
    h = commit(h, "ab", "field:/nodes/1/config/url", 500);
    h = commit(h, "abc", "field:/nodes/1/config/url", 900);
    expect(h.past).toEqual([""]);
    h = commit(h, "abcd", "field:/nodes/1/config/url", 5000);
    expect(h.past).toEqual(["", "abc"]);
    h = commit(h, "x", "field:/nodes/2/config/url", 5100);
    expect(h.past).toEqual(["", "abc", "abcd"]);
  });
  it("replace changes the present without an undo step (drag frames)", () => {
    let h = commit(createHistory("p0"), "p1", null, 0);
    h = replace(h, "p2");
    h = replace(h, "p3");
    expect(undo(h).present).toBe("p0");
  });
  it("committing the same document is a no-op", () => {
    const h = createHistory({});
    expect(commit(h, h.present)).toBe(h);
    expect(undo(createHistory(1))).toEqual(createHistory(1));
  });
});
