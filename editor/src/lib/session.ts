// Who is signed in (issue 13, app/api/access.py): GET /api/auth/me at start tells whether access control is
// on, the user and role, and the session's CSRF token that every write must send (lib/api.ts adds it). With
// auth off everything is allowed and nothing of this shows. The roles and permissions are app/auth.py's.
import { useSyncExternalStore } from "react";

export const ROLES = ["viewer", "operator", "editor", "admin"] as const;
export type Role = (typeof ROLES)[number];
/** app/auth.py PERMISSIONS: the least role each permission needs. */
export const PERMISSIONS = { read: "viewer", run: "operator", design: "editor", admin: "admin" } as const;
export type Permission = keyof typeof PERMISSIONS;

export interface User {
  email: string;
  role: string;
}

export interface Session {
  /** access control is on (WASMFLOW_AUTH=1) */
  auth: boolean;
  user: User | null;
  csrf: string | null;
  /** auth on and no user exists yet: the first admin is made with the CLI */
  setupNeeded?: boolean;
}

export const AUTH_OFF: Session = { auth: false, user: null, csrf: null };

let current: Session | null = null;
const listeners = new Set<() => void>();

export function getSession(): Session | null {
  return current;
}

export function setSession(s: Session | null): void {
  current = s;
  for (const l of listeners) l();
}

/** A 401 from any call: the session ended (expired, signed out elsewhere); the app shows the sign-in page. */
export function sessionLost(): void {
  if (current?.auth && current.user) setSession({ ...current, user: null, csrf: null });
}

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, getSession, getSession);
}

export function allows(role: string, permission: Permission): boolean {
  const have = ROLES.indexOf(role as Role);
  return have >= 0 && have >= ROLES.indexOf(PERMISSIONS[permission]);
}

/** Whether the session may do what needs `permission`: always with auth off. */
export function sessionCan(s: Session | null, permission: Permission): boolean {
  if (!s || !s.auth) return true;
  return !!s.user && allows(s.user.role, permission);
}

/** Why not, for a tooltip ("needs the role editor; you are viewer"), or null when allowed. */
export function needsText(s: Session | null, permission: Permission): string | null {
  if (sessionCan(s, permission)) return null;
  return `needs the role ${PERMISSIONS[permission]} or higher; you are ${s?.user?.role ?? "not signed in"}`;
}

/** `useCan("design")`: re-renders when the session changes. */
export function useCan(permission: Permission): boolean {
  return sessionCan(useSession(), permission);
}

/** "Too many failed sign-ins": the wait in words, from Retry-After (seconds). */
export function waitText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "a while";
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  return `${Math.ceil(seconds / 60)} min`;
}
