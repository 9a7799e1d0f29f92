// Debounced draft autosave with the server's optimistic lock. A PUT carries the revision the editor last
// saw; a 409 (someone else saved meanwhile) stops autosaving and raises a conflict the user resolves
// ("reload theirs" or "overwrite with mine"), so nothing is ever overwritten silently.
import type { DslDocument, Problem } from "../dsl/types";

export type SaveState = "saved" | "dirty" | "saving" | "conflict" | "error";

export interface PutResult {
  revision: number;
  valid: boolean;
  errors: Problem[];
  digest: string | null;
}

export interface SaveBackend {
  /** PUT {revision, draft}; resolves with the answer, rejects with {status, problems?, message}. */
  put(revision: number, draft: DslDocument): Promise<PutResult>;
  /** The server's current draft and revision. */
  fetch(): Promise<{ revision: number; draft: DslDocument }>;
}

export interface SaveFailure {
  status: number;
  code?: string;
  message: string;
  problems?: Problem[];
}

export interface AutosaveEvents {
  onState(state: SaveState, detail?: string): void;
  onSaved(result: PutResult, doc: DslDocument): void;
  /** The user chose "reload theirs": the editor replaces its document. */
  onReload(draft: DslDocument, revision: number): void;
}

export class Autosaver {
  revision: number;
  state: SaveState = "saved";
  private pending: DslDocument | null = null;
  private lastSaved: DslDocument | null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(
    private backend: SaveBackend,
    private events: AutosaveEvents,
    revision: number,
    saved: DslDocument | null,
    public delayMs = 700,
  ) {
    this.revision = revision;
    this.lastSaved = saved;
  }

  private set(state: SaveState, detail?: string) {
    this.state = state;
    this.events.onState(state, detail);
  }

  /** The document changed: save it after the debounce delay (unless a conflict is open). */
  change(doc: DslDocument) {
    if (doc === this.lastSaved && !this.pending) return;
    this.pending = doc;
    if (this.state === "conflict") return;
    this.set("dirty");
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), this.delayMs);
  }

  /** Save now (the Save button, Test run and Deploy call this); resolves when the latest document is saved. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight) await this.inFlight;
    if (this.state === "conflict") throw new Error("the draft has a save conflict: resolve it first");
    const doc = this.pending;
    if (!doc) return;
    this.pending = null;
    this.inFlight = this.save(doc);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
    const after = this.state as SaveState;
    if (this.pending && after !== "conflict" && after !== "error") return this.flush();
  }

  private async save(doc: DslDocument, revision = this.revision): Promise<void> {
    this.set("saving");
    try {
      const res = await this.backend.put(revision, doc);
      this.revision = res.revision;
      this.lastSaved = doc;
      this.set(this.pending ? "dirty" : "saved");
      this.events.onSaved(res, doc);
    } catch (e) {
      const f = e as SaveFailure;
      if (f.status === 409) {
        if (!this.pending) this.pending = doc;
        this.set("conflict", f.message);
      } else if (f.status === 422 && f.problems) {
        // Before the server saved invalid drafts, a 422 carried the problems: show them, keep editing.
        this.lastSaved = null;
        this.set("error", "not saved: the draft is invalid");
        this.events.onSaved({ revision: this.revision, valid: false, errors: f.problems, digest: null }, doc);
      } else {
        if (!this.pending) this.pending = doc;
        this.set("error", f.message ?? String(e));
      }
    }
  }

  /** Conflict resolution: drop local changes and load the server's draft. */
  async reloadTheirs(): Promise<void> {
    const cur = await this.backend.fetch();
    this.revision = cur.revision;
    this.pending = null;
    this.lastSaved = cur.draft;
    this.set("saved");
    this.events.onReload(cur.draft, cur.revision);
  }

  /** Conflict resolution: save the local document over the server's newer revision, knowingly. */
  async overwriteMine(doc: DslDocument): Promise<void> {
    const cur = await this.backend.fetch();
    this.revision = cur.revision;
    this.pending = null;
    this.state = "dirty";
    await this.save(doc, cur.revision);
  }

  dispose() {
    if (this.timer) clearTimeout(this.timer);
  }
}
