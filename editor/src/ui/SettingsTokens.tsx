// Settings > API tokens (GET/POST /api/auth/tokens, DELETE /api/auth/tokens/<id>; admins on the server):
// tokens for programs (the CLI's --server, CI). A new token is shown once, with a copy button, and never
// again (the server keeps only its SHA-256); its role is at most its user's; revoking asks first.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { api, type TokenMade, type TokenRow } from "../lib/api";
import { useSession } from "../lib/session";
import { expiresText, fieldError, formatDate, parseDays, refusalText, tokenRoles, tokenState } from "./settings";
import { ConfirmButton, Field, LoadProblem, type ToastFn } from "./SettingsParts";

const FIELDS = ["name", "user", "role", "expires_days"] as const;

export function SettingsTokens({ toast }: { toast: ToastFn }) {
  const me = useSession()?.user ?? null;
  const [tokens, setTokens] = useState<TokenRow[] | null>(null);
  const [people, setPeople] = useState<{ email: string; role: string }[]>(me ? [me] : []);
  const [problem, setProblem] = useState<string | null>(null);
  const [whose, setWhose] = useState<"mine" | "all">(me ? "mine" : "all");
  const [name, setName] = useState("");
  const [user, setUser] = useState(me?.email ?? "");
  const [role, setRole] = useState(me?.role ?? "viewer");
  const [days, setDays] = useState("90");
  const [formError, setFormError] = useState<{ field: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [made, setMade] = useState<TokenMade | null>(null);
  const now = Date.now();

  const load = useCallback(async () => {
    try {
      setTokens((await api.tokens()).tokens);
      setProblem(null);
    } catch (e) {
      setProblem(refusalText(e, "API tokens") ?? `Could not list tokens: ${(e as Error).message}`);
    }
  }, []);
  useEffect(() => {
    void load();
    api
      .users()
      .then((r) => setPeople(r.users.filter((u) => !u.disabled)))
      .catch(() => {}); // only the signed-in user to choose from
  }, [load]);

  const owner = people.find((p) => p.email === user);
  const roles = tokenRoles(owner?.role);
  // The role chosen stays within what the chosen user has (a token is never above its user).
  useEffect(() => {
    if (owner && !roles.includes(role)) setRole(owner.role);
  }, [owner, roles, role]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    const d = parseDays(days);
    if ("error" in d) {
      setFormError({ field: "expires_days", message: d.error });
      return;
    }
    if (!user) {
      setFormError({ field: "user", message: "choose whose token it is" });
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      const t = await api.createToken({ user, name: name.trim(), role, expires_days: d.days });
      setMade(t);
      setName("");
      if (me && user !== me.email) setWhose("all");
      void load();
    } catch (err) {
      setFormError(fieldError(err, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: TokenRow) => {
    try {
      await api.revokeToken(t.id);
      toast(`Revoked ${t.name}: it stops working now`);
      if (made?.id === t.id) setMade(null);
      await load();
    } catch (err) {
      toast((err as Error).message, "error");
    }
  };

  if (problem) return <LoadProblem text={problem} />;
  const errorFor = (f: string) => (formError?.field === f ? formError.message : null);
  const shown = (tokens ?? [])
    .filter((t) => whose === "all" || t.user === me?.email)
    .sort((a, b) => Number(a.revoked) - Number(b.revoked) || (b.created_at ?? "").localeCompare(a.created_at ?? ""));
  return (
    <section className="wf-settings-section" data-testid="settings-tokens">
      {made ? <NewToken made={made} onDone={() => setMade(null)} /> : null}
      <form className="wf-settings-card" data-testid="token-form" onSubmit={(e) => void create(e)}>
        <div className="wf-settings-card-title">Create a token</div>
        <div className="wf-settings-form">
          <Field label="Name" hint="what it is for" name="name" error={errorFor("name")}>
            <input id="wf-settings-name" className={`wf-input${errorFor("name") ? " wf-invalid" : ""}`} data-testid="token-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-deploy" autoComplete="off" />
          </Field>
          {people.length > 1 || !me ? (
            <Field label="For" name="user" error={errorFor("user")}>
              <select id="wf-settings-user" className="wf-input" data-testid="token-user" value={user} onChange={(e) => setUser(e.target.value)}>
                {!user ? <option value="">choose a user</option> : null}
                {people.map((p) => (
                  <option key={p.email} value={p.email}>
                    {p.email === me?.email ? `${p.email} (you)` : p.email}
                  </option>
                ))}
              </select>
            </Field>
          ) : null}
          <Field label="Role" hint={owner ? `at most ${owner.role}` : undefined} name="role" error={errorFor("role")}>
            <select id="wf-settings-role" className="wf-input" data-testid="token-role" value={role} onChange={(e) => setRole(e.target.value)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Expires in" hint="days" name="expires_days" error={errorFor("expires_days")}>
            <input id="wf-settings-expires_days" className={`wf-input wf-settings-days${errorFor("expires_days") ? " wf-invalid" : ""}`} data-testid="token-days" inputMode="numeric" value={days} onChange={(e) => setDays(e.target.value)} />
          </Field>
          <button className="wf-btn wf-btn-primary wf-settings-submit" data-testid="btn-create-token" type="submit" disabled={busy}>
            {busy ? "Creating…" : "Create token"}
          </button>
        </div>
        {formError && !formError.field ? (
          <div className="wf-field-error" role="alert" data-testid="token-form-error">
            {formError.message}
          </div>
        ) : null}
        <p className="wf-muted wf-settings-note">
          Programs send it as <code>Authorization: Bearer wf_…</code> (the CLI reads <code>WASMFLOW_TOKEN</code>). It acts with its role, never more than its user's, until it expires or is revoked.
        </p>
      </form>
      <div className="wf-runs-filters">
        <label className="wf-filter">
          <span className="wf-muted">Show</span>
          <select className="wf-input wf-input-xs" data-testid="tokens-whose" value={whose} onChange={(e) => setWhose(e.target.value as "mine" | "all")}>
            {me ? <option value="mine">my tokens</option> : null}
            <option value="all">everyone's tokens</option>
          </select>
        </label>
      </div>
      {tokens === null ? <div className="wf-muted">Loading…</div> : null}
      {tokens && !shown.length ? (
        <div className="wf-empty" data-testid="tokens-empty">
          No tokens yet.
        </div>
      ) : null}
      {shown.length ? (
        <table className="wf-table wf-home-table wf-settings-table" data-testid="tokens-table">
          <thead>
            <tr>
              <th>Name</th>
              {whose === "all" ? <th>User</th> : null}
              <th>Role</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => {
              const state = tokenState(t, now);
              return (
                <tr key={t.id} data-testid={`token-row-${t.name}`} data-state={state} className={state === "active" ? undefined : "is-inactive"}>
                  <td className="wf-settings-strong">{t.name}</td>
                  {whose === "all" ? <td className="wf-muted">{t.user}</td> : null}
                  <td>
                    <span className={`wf-badge wf-role wf-role-${t.role}`}>{t.role}</span>
                  </td>
                  <td className="wf-muted" title={t.created_at ?? ""}>
                    {formatDate(t.created_at)}
                  </td>
                  <td title={t.expires_at ? formatDate(t.expires_at) : "never expires"}>{expiresText(t.expires_at, now)}</td>
                  <td className="wf-muted" title={t.last_used_at ?? "never used"}>
                    {t.last_used_at ? formatDate(t.last_used_at) : "never"}
                  </td>
                  <td>
                    <span className={`wf-badge ${state === "active" ? "wf-status-succeeded" : state === "revoked" ? "wf-badge-error" : ""}`} data-testid={`token-state-${t.name}`}>
                      {state}
                    </span>
                  </td>
                  <td className="wf-actions">
                    {state === "revoked" ? null : (
                      <ConfirmButton label="Revoke" question={`Revoke ${t.name}? Programs using it stop working at once.`} testId={`btn-revoke-${t.name}`} onConfirm={() => revoke(t)} />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** The token just made, shown this once: copy it now, it is never shown again. */
function NewToken({ made, onDone }: { made: TokenMade; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(made.token);
    } catch {
      // no clipboard permission (an http page, a locked-down browser): the old way, from the selected field
      field.current?.select();
      document.execCommand("copy");
    }
    setCopied(true);
  };
  return (
    <div className="wf-settings-card wf-token-once" role="status" data-testid="token-once">
      <div className="wf-settings-card-title">
        Token <span className="wf-mono">{made.name}</span> created ({made.role}
        {made.expires_at ? `, expires ${formatDate(made.expires_at)}` : ", never expires"})
      </div>
      <p className="wf-token-warning" data-testid="token-once-warning">
        Copy it now: you will not see it again. The server keeps only a hash of it.
      </p>
      <div className="wf-token-value">
        <input ref={field} className="wf-input wf-mono" data-testid="token-value" readOnly value={made.token} onFocus={(e) => e.target.select()} aria-label="the new token" />
        <button className="wf-btn wf-btn-primary" data-testid="btn-copy-token" onClick={() => void copy()}>
          {copied ? "Copied ✓" : "Copy"}
        </button>
        <button className="wf-btn" data-testid="btn-token-done" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
