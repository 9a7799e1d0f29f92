// Who is signed in, at the right of every top bar, with Sign out. Nothing with access control off.
import { api } from "../lib/api";
import { setSession, useSession } from "../lib/session";

/** `compact` (the editor's crowded top bar): a shorter email; the whole of it is in the tooltip. */
export function UserMenu({ beforeSignOut, compact }: { beforeSignOut?: () => Promise<unknown>; compact?: boolean }) {
  const session = useSession();
  if (!session?.auth || !session.user) return null;
  const { email, role } = session.user;
  const signOut = async () => {
    await beforeSignOut?.().catch(() => {}); // the editor saves what its debounce still holds
    await api.logout().catch(() => {});
    setSession({ auth: true, user: null, csrf: null });
  };
  return (
    <div className={`wf-user${compact ? " wf-user-compact" : ""}`} data-testid="user-chip" data-role={role} title={`signed in as ${email} (${role})`}>
      <span className="wf-user-email" data-testid="user-email">
        {email}
      </span>
      <span className={`wf-badge wf-role wf-role-${role}`} data-testid="user-role">
        {role}
      </span>
      <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-sign-out" onClick={() => void signOut()}>
        Sign out
      </button>
    </div>
  );
}
