// Undo/redo over whole documents. Documents are immutable, so a history entry is just a reference. Edits that
// arrive in a burst with the same coalesce key (typing in one field, one drag) make one undo step.

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  coalesceKey: string | null;
  coalesceAt: number;
}

export const HISTORY_LIMIT = 200;
export const COALESCE_MS = 1000;

export function createHistory<T>(present: T): History<T> {
  return { past: [], present, future: [], coalesceKey: null, coalesceAt: 0 };
}

/** Record a new present. With a coalesce key equal to the last one (within COALESCE_MS) the previous step is
 * extended instead of a new one being pushed. */
export function commit<T>(h: History<T>, next: T, coalesceKey: string | null = null, now = Date.now()): History<T> {
  if (next === h.present) return h;
  if (coalesceKey !== null && coalesceKey === h.coalesceKey && now - h.coalesceAt <= COALESCE_MS) {
    return { ...h, present: next, future: [], coalesceAt: now };
  }
  const past = [...h.past, h.present];
  if (past.length > HISTORY_LIMIT) past.splice(0, past.length - HISTORY_LIMIT);
  return { past, present: next, future: [], coalesceKey, coalesceAt: now };
}

/** Change the present without an undo step (e.g. a drag in progress after its first frame was committed). */
export function replace<T>(h: History<T>, next: T): History<T> {
  return next === h.present ? h : { ...h, present: next };
}

export function undo<T>(h: History<T>): History<T> {
  if (!h.past.length) return h;
  const past = h.past.slice(0, -1);
  return { past, present: h.past[h.past.length - 1], future: [h.present, ...h.future], coalesceKey: null, coalesceAt: 0 };
}

export function redo<T>(h: History<T>): History<T> {
  if (!h.future.length) return h;
  const [present, ...future] = h.future;
  return { past: [...h.past, h.present], present, future, coalesceKey: null, coalesceAt: 0 };
}

export const canUndo = <T,>(h: History<T>) => h.past.length > 0;
export const canRedo = <T,>(h: History<T>) => h.future.length > 0;
