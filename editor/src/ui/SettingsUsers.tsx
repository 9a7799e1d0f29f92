// Settings > Users (admins; GET/POST /api/auth/users, PATCH /api/auth/users/<id>): who may sign in, with
// which role. Adding a user shows the server's message under the field it names (a taken email, a short
// password); a role change or a disable that would leave no active admin is refused (409), said on its row.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, type UserRow } from "../lib/api";
import { ROLES, useSession } from "../lib/session";
import { fieldError, formatDate, refusalText } from "./settings";
import { ConfirmButton, Field, LoadProblem, type ToastFn } from "./SettingsParts";

const FIELDS = ["email", "password", "role"] as const;

export function SettingsUsers({ toast }: { toast: ToastFn }) {
  const me = useSession()?.user?.email ?? null;
  const [users, setUsers] = useState<UserRow[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState("viewer");
  const [formError, setFormError] = useState<{ field: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [rowError, setRowError] = useState<Record<string, string>>({});

  const load = useCallback(async () => {
    try {
      setUsers((await api.users()).users);
      setProblem(null);
    } catch (e) {
      setProblem(refusalText(e, "users") ?? `Could not list users: ${(e as Error).message}`);
    }
  }, []);
  useEffect(() => void load(), [load]);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setFormError(null);
    try {
      const made = await api.createUser(email.trim(), password, role);
      toast(`Added ${made.email} (${made.role})`);
      setEmail("");
      setPassword("");
      setRole("viewer");
      void load();
    } catch (err) {
      setFormError(fieldError(err, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const change = async (u: UserRow, what: { role?: string; disabled?: boolean }) => {
    setRowError(({ [u.id]: _gone, ...rest }) => rest);
    try {
      const next = await api.updateUser(u.id, what);
      setUsers((list) => list?.map((x) => (x.id === u.id ? { ...x, ...next } : x)) ?? null);
      toast(what.role ? `${u.email} is now ${next.role}` : next.disabled ? `${u.email} is disabled: signed out, tokens stopped` : `${u.email} may sign in again`);
    } catch (err) {
      setRowError((r) => ({ ...r, [u.id]: (err as Error).message }));
    }
  };

  if (problem) return <LoadProblem text={problem} />;
  const errorFor = (f: string) => (formError?.field === f ? formError.message : null);
  return (
    <section className="wf-settings-section" data-testid="settings-users">
      <form className="wf-settings-card" data-testid="user-form" onSubmit={(e) => void add(e)}>
        <div className="wf-settings-card-title">Add a user</div>
        <div className="wf-settings-form">
          <Field label="Email" name="email" error={errorFor("email")}>
            <input id="wf-settings-email" className={`wf-input${errorFor("email") ? " wf-invalid" : ""}`} data-testid="new-user-email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} placeholder="ann@example.com" required />
          </Field>
          <Field label="Password" hint="12 or more characters" name="password" error={errorFor("password")}>
            <input id="wf-settings-password" className={`wf-input${errorFor("password") ? " wf-invalid" : ""}`} data-testid="new-user-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </Field>
          <Field label="Role" name="role" error={errorFor("role")}>
            <select id="wf-settings-role" className="wf-input" data-testid="new-user-role" value={role} onChange={(e) => setRole(e.target.value)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </Field>
          <button className="wf-btn wf-btn-primary wf-settings-submit" data-testid="btn-add-user" type="submit" disabled={busy}>
            {busy ? "Adding…" : "Add user"}
          </button>
        </div>
        {formError && !formError.field ? (
          <div className="wf-field-error" role="alert" data-testid="user-form-error">
            {formError.message}
          </div>
        ) : null}
        <p className="wf-muted wf-settings-note">
          Roles include the ones before them: viewer reads, operator runs and approves, editor designs and deploys, admin manages users, tokens and secrets.
        </p>
      </form>
      {users === null ? <div className="wf-muted">Loading…</div> : null}
      {users?.length ? (
        <table className="wf-table wf-home-table wf-settings-table" data-testid="users-table">
          <thead>
            <tr>
              <th>Email</th>
              <th>Role</th>
              <th>Status</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} data-testid={`user-row-${u.email}`} data-role={u.role} data-disabled={u.disabled}>
                <td>
                  <span className="wf-settings-strong">{u.email}</span>
                  {u.email === me ? <span className="wf-tag">you</span> : null}
                  {rowError[u.id] ? (
                    <div className="wf-field-error" role="alert" data-testid={`user-error-${u.email}`}>
                      {rowError[u.id]}
                    </div>
                  ) : null}
                </td>
                <td>
                  <select className="wf-input wf-input-xs wf-settings-role" data-testid={`user-role-${u.email}`} aria-label={`role of ${u.email}`} value={u.role} onChange={(e) => void change(u, { role: e.target.value })}>
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </td>
                <td>{u.disabled ? <span className="wf-badge wf-badge-error">disabled</span> : <span className="wf-badge wf-status-succeeded">active</span>}</td>
                <td className="wf-muted" title={u.created_at ?? ""}>
                  {formatDate(u.created_at)}
                </td>
                <td className="wf-actions">
                  {u.disabled ? (
                    <button className="wf-btn wf-btn-xs" data-testid={`btn-enable-${u.email}`} onClick={() => void change(u, { disabled: false })}>
                      Enable
                    </button>
                  ) : (
                    <ConfirmButton label="Disable" question={`Disable ${u.email}? They are signed out and their tokens stop working.`} testId={`btn-disable-${u.email}`} onConfirm={() => change(u, { disabled: true })} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
