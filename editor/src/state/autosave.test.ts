import { describe, expect, it } from "vitest";
import type { DslDocument } from "../dsl/types";
import { Autosaver, type PutResult, type SaveBackend, type SaveState } from "./autosave";

const doc = (title: string): DslDocument => ({ dsl: "wasmflow/1", name: "w", title, nodes: [{ id: "start", type: "trigger.manual" }] });

/** A server with an optimistic lock, like the real PUT: a stale revision is refused with 409. */
function fakeServer() {
  const server = { revision: 1, draft: doc("v1"), puts: [] as { revision: number; title: string }[] };
  const backend: SaveBackend = {
    async put(revision, draft) {
      server.puts.push({ revision, title: String(draft.title) });
      if (revision !== server.revision) throw { status: 409, code: "stale_revision", message: "stale revision" };
      server.revision += 1;
      server.draft = draft;
      return { revision: server.revision, valid: draft.title !== "bad", errors: [], digest: "d" + server.revision } as PutResult;
    },
    async fetch() {
      return { revision: server.revision, draft: server.draft };
    },
  };
  return { server, backend };
}

function saver(backend: SaveBackend) {
  const states: SaveState[] = [];
  const saved: PutResult[] = [];
  const reloaded: DslDocument[] = [];
  const s = new Autosaver(
    backend,
    { onState: (st) => states.push(st), onSaved: (r) => saved.push(r), onReload: (d) => reloaded.push(d) },
    1,
    doc("v1"),
    5,
  );
  return { s, states, saved, reloaded };
}

describe("autosave", () => {
  it("debounces a burst of edits into one PUT with the known revision, then tracks the new revision", async () => {
    const { server, backend } = fakeServer();
    const { s, saved } = saver(backend);
    s.change(doc("a"));
    s.change(doc("ab"));
    s.change(doc("abc"));
    await new Promise((r) => setTimeout(r, 30));
    await s.flush();
    expect(server.puts).toEqual([{ revision: 1, title: "abc" }]);
    expect(s.revision).toBe(2);
    expect(saved[0].digest).toBe("d2");
    s.change(doc("abcd"));
    await s.flush();
    expect(server.puts[1]).toEqual({ revision: 2, title: "abcd" });
    expect(s.state).toBe("saved");
  });
  it("a 409 raises a conflict and stops autosaving: nothing is overwritten silently", async () => {
    const { server, backend } = fakeServer();
    const { s, states } = saver(backend);
    server.revision = 5; // someone else saved twice
    server.draft = doc("theirs");
    s.change(doc("mine"));
    await s.flush();
    expect(s.state).toBe("conflict");
    expect(states).toContain("conflict");
    s.change(doc("mine again"));
    await new Promise((r) => setTimeout(r, 30));
    expect(server.puts).toHaveLength(1);
    expect(server.draft.title).toBe("theirs");
    await expect(s.flush()).rejects.toThrow(/conflict/);
  });
  it("'reload theirs' loads the server draft and its revision", async () => {
    const { server, backend } = fakeServer();
    const { s, reloaded } = saver(backend);
    server.revision = 3;
    server.draft = doc("theirs");
    s.change(doc("mine"));
    await s.flush();
    await s.reloadTheirs();
    expect(reloaded[0].title).toBe("theirs");
    expect(s.state).toBe("saved");
    s.change(doc("next"));
    await s.flush();
    expect(server.puts.at(-1)).toEqual({ revision: 3, title: "next" });
  });
  it("'overwrite with mine' saves over the newer revision, knowingly", async () => {
    const { server, backend } = fakeServer();
    const { s } = saver(backend);
    server.revision = 3;
    s.change(doc("mine"));
    await s.flush();
    await s.overwriteMine(doc("mine"));
    expect(server.draft.title).toBe("mine");
    expect(s.state).toBe("saved");
    expect(s.revision).toBe(4);
  });
  it("a network failure keeps the document pending and retries on the next save", async () => {
    const { server, backend } = fakeServer();
    let fail = true;
    const flaky: SaveBackend = {
      put: (r, d) => (fail ? Promise.reject({ status: 0, message: "offline" }) : backend.put(r, d)),
      fetch: backend.fetch,
    };
    const { s } = saver(flaky);
    s.change(doc("x"));
    await s.flush();
    expect(s.state).toBe("error");
    fail = false;
    await s.flush();
    expect(server.draft.title).toBe("x");
    expect(s.state).toBe("saved");
  });
  it("an older server's 422 shows the problems and keeps editing (nothing saved)", async () => {
    const problems = [{ path: "/draft/nodes/0/id", node: null, code: "bad_format", message: "bad id" }];
    const backend: SaveBackend = {
      put: () => Promise.reject({ status: 422, message: "invalid", problems }),
      fetch: async () => ({ revision: 1, draft: doc("v1") }),
    };
    const { s, saved } = saver(backend);
    s.change(doc("x"));
    await s.flush();
    expect(s.state).toBe("error");
    expect(saved[0]).toEqual({ revision: 1, valid: false, errors: problems, digest: null });
    expect(s.revision).toBe(1);
  });
});
