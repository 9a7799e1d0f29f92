// The Settings area's pure parts (ui/SettingsPage.tsx): its hash routes, which tabs a role sees, server
// errors placed under the field they name, and the words for dates, expiry, token state and secret grants.
import { ApiError, type SecretItem, type TokenRow } from "../lib/api";
import { ROLES, sessionCan, type Permission, type Session } from "../lib/session";

export const SETTINGS_TABS = ["users", "tokens", "secrets"] as const;
export type SettingsTab = (typeof SETTINGS_TABS)[number];

export const TAB_LABELS: Record<SettingsTab, string> = { users: "Users", tokens: "API tokens", secrets: "Secrets" };

/** What each tab needs (app/api/access.py ROUTES: the users and tokens routes are admin's). Only Users is
 * hidden from the others: the server says for itself what the other tabs refuse (a clear 403 on the page). */
const HIDDEN_BELOW: Partial<Record<SettingsTab, Permission>> = { users: "admin" };

/** Whether the session manages people: an admin, or (with workspaces) the instance admin GET /api/auth/me
 * names, whatever their role in the workspace at hand. */
function managesPeople(s: Session | null): boolean {
  const flag = (s?.user as { instance_admin?: boolean } | null | undefined)?.instance_admin;
  return typeof flag === "boolean" && s?.auth ? flag : sessionCan(s, "admin");
}

export function visibleTabs(s: Session | null): SettingsTab[] {
  return SETTINGS_TABS.filter((t) => {
    const need = HIDDEN_BELOW[t];
    return !need || (t === "users" ? managesPeople(s) : sessionCan(s, need));
  });
}

/** `#/settings/tokens` -> "tokens"; `#/settings` (or an unknown tab) -> null: the first tab the role sees. */
export function settingsTabOf(hash: string): SettingsTab | null {
  const m = /^#\/settings(?:\/([^/?#]*))?/.exec(hash);
  const t = m?.[1] ?? "";
  return (SETTINGS_TABS as readonly string[]).includes(t) ? (t as SettingsTab) : null;
}

export function isSettingsHash(hash: string): boolean {
  return /^#\/settings(?:[/?]|$)/.test(hash);
}

export function settingsHash(tab: SettingsTab): string {
  return `#/settings/${tab}`;
}

/** The roles a token of a user with `userRole` may have: that role and the ones below it. */
export function tokenRoles(userRole: string | undefined): string[] {
  const i = ROLES.indexOf(userRole as (typeof ROLES)[number]);
  return i < 0 ? [...ROLES] : ROLES.slice(0, i + 1);
}

/** A server error split for a form: the message under the field it names (details.field, or the error's own
 * `field` as sign-in answers), else a message for the whole form. */
export function fieldError(e: unknown, fields: readonly string[]): { field: string | null; message: string } {
  const message = e instanceof Error ? e.message : String(e);
  if (!(e instanceof ApiError)) return { field: null, message };
  const err = (e.body as { error?: { field?: unknown; details?: { field?: unknown } } } | null)?.error;
  const f = err?.details?.field ?? err?.field;
  return { field: typeof f === "string" && fields.includes(f) ? f : null, message };
}

/** A 403 in words for a screen the role may not use (the server's own message says who and what it needs). */
export function refusalText(e: unknown, what: string): string | null {
  if (!(e instanceof ApiError) || e.status !== 403) return null;
  return `You may not manage ${what}: ${e.message}.`;
}

/** A date for a table cell: "Dec 4, 2026, 14:05"; "—" for none. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export type TokenState = "active" | "expired" | "revoked";

export function tokenState(t: Pick<TokenRow, "revoked" | "expires_at">, now: number): TokenState {
  if (t.revoked) return "revoked";
  if (t.expires_at && Date.parse(t.expires_at) <= now) return "expired";
  return "active";
}

/** "in 7 days", "in 5 h", "expired", "never" (for the Expires column, with the date in its tooltip). */
export function expiresText(iso: string | null, now: number): string {
  if (!iso) return "never";
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return iso;
  if (ms <= 0) return "expired";
  const hours = ms / 3_600_000;
  if (hours < 1) return `in ${Math.max(1, Math.round(ms / 60_000))} min`;
  if (hours < 48) return `in ${Math.round(hours)} h`;
  return `in ${Math.round(hours / 24)} days`;
}

/** Days of validity typed into the form: a whole number from 1 to 3650, or a reason why not. */
export function parseDays(text: string): { days: number } | { error: string } {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { error: "a whole number of days, e.g. 90" };
  const days = Number(t);
  if (days < 1 || days > 3650) return { error: "from 1 to 3650 days" };
  return { days };
}

export interface SecretRow {
  name: string;
  /** undefined: the server has no grants; null: all workflows */
  workflows?: string[] | null;
  updated_at?: string | null;
}

export function secretRows(items: readonly SecretItem[]): SecretRow[] {
  return items
    .map((it) => (typeof it === "string" ? { name: it } : { name: it.name, workflows: it.workflows, updated_at: it.updated_at ?? it.created_at ?? null }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The "Granted to" cell: "All workflows", the names, or "No workflows" for an empty grant list. */
export function grantText(workflows: string[] | null | undefined): string {
  if (workflows === null || workflows === undefined) return "All workflows";
  return workflows.length ? workflows.join(", ") : "No workflows";
}

/** A secret name as the server accepts it (app/runtime/secrets.py NAME_RE), or why not. */
export function secretNameProblem(name: string): string | null {
  if (!name) return "a name is needed, like GITHUB_TOKEN";
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(name) ? null : "1-64 upper-case letters, digits and _, starting with a letter (like GITHUB_TOKEN)";
}
