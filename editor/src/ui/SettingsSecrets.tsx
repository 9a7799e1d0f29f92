// Settings > Secrets (GET /api/secrets, PUT and DELETE /api/secrets/<name>): the names of the secrets HTTP
// nodes inject, never their values. Setting one sends the value once (a password field, cleared after); a
// server with grants lists the workflows each secret is granted to (null: all). Deleting asks first.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, ApiError } from "../lib/api";
import { fieldError, formatDate, grantText, refusalText, secretNameProblem, secretRows, type SecretRow } from "./settings";
import { ConfirmButton, Field, LoadProblem, type ToastFn } from "./SettingsParts";

const FIELDS = ["name", "value"] as const;

export function SettingsSecrets({ toast }: { toast: ToastFn }) {
  const [rows, setRows] = useState<SecretRow[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [formError, setFormError] = useState<{ field: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setRows(secretRows((await api.secrets()).secrets ?? []));
      setProblem(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && e.code === "http_404")
        setProblem("This server has no secrets API (GET /api/secrets is not found). Set secrets on the server: wasmflow secrets set NAME");
      else setProblem(refusalText(e, "secrets") ?? `Could not list secrets: ${(e as Error).message}`);
    }
  }, []);
  useEffect(() => void load(), [load]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    const bad = secretNameProblem(n);
    if (bad) {
      setFormError({ field: "name", message: bad });
      return;
    }
    if (!value) {
      setFormError({ field: "value", message: "a value is needed" });
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      const replaced = rows?.some((r) => r.name === n);
      await api.setSecret(n, value);
      toast(replaced ? `Replaced the value of ${n}` : `Saved ${n}`);
      setName("");
      setValue("");
      void load();
    } catch (err) {
      setFormError(fieldError(err, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (n: string) => {
    try {
      await api.deleteSecret(n);
      toast(`Deleted ${n}`);
      await load();
    } catch (err) {
      toast((err as Error).message, "error");
    }
  };

  if (problem) return <LoadProblem text={problem} />;
  const errorFor = (f: string) => (formError?.field === f ? formError.message : null);
  const grants = !!rows?.some((r) => r.workflows !== undefined); // a server with workspaces and grants
  const dated = !!rows?.some((r) => r.updated_at);
  const exists = !!rows?.some((r) => r.name === name.trim());
  return (
    <section className="wf-settings-section" data-testid="settings-secrets">
      <form className="wf-settings-card" data-testid="secret-form" onSubmit={(e) => void save(e)}>
        <div className="wf-settings-card-title">Set a secret</div>
        <div className="wf-settings-form">
          <Field label="Name" hint={exists ? "exists: its value is replaced" : "like GITHUB_TOKEN"} name="name" error={errorFor("name")}>
            <input id="wf-settings-name" className={`wf-input wf-mono${errorFor("name") ? " wf-invalid" : ""}`} data-testid="secret-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="ERP_TOKEN" autoComplete="off" spellCheck={false} />
          </Field>
          <Field label="Value" hint="sent once, never shown" name="value" error={errorFor("value")}>
            <input id="wf-settings-value" className={`wf-input wf-settings-secret-value${errorFor("value") ? " wf-invalid" : ""}`} data-testid="secret-value" type="password" autoComplete="new-password" value={value} onChange={(e) => setValue(e.target.value)} />
          </Field>
          <button className="wf-btn wf-btn-primary wf-settings-submit" data-testid="btn-set-secret" type="submit" disabled={busy}>
            {busy ? "Saving…" : exists ? "Replace value" : "Save secret"}
          </button>
        </div>
        {formError && !formError.field ? (
          <div className="wf-field-error" role="alert" data-testid="secret-form-error">
            {formError.message}
          </div>
        ) : null}
        <p className="wf-muted wf-settings-note">
          Stored encrypted on the server. A workflow names a secret; the host injects its value into the request and redacts it everywhere, so it never enters the sandbox.
        </p>
      </form>
      {rows === null ? <div className="wf-muted">Loading…</div> : null}
      {rows && !rows.length ? (
        <div className="wf-empty" data-testid="secrets-empty">
          No secrets yet.
        </div>
      ) : null}
      {rows?.length ? (
        <table className="wf-table wf-home-table wf-settings-table" data-testid="secrets-table">
          <thead>
            <tr>
              <th>Name</th>
              {grants ? <th>Granted to</th> : null}
              {dated ? <th>Updated</th> : null}
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.name} data-testid={`secret-row-${r.name}`}>
                <td className="wf-mono wf-settings-strong">{r.name}</td>
                {grants ? (
                  <td className={r.workflows ? undefined : "wf-muted"} data-testid={`secret-grant-${r.name}`}>
                    {grantText(r.workflows)}
                  </td>
                ) : null}
                {dated ? <td className="wf-muted">{formatDate(r.updated_at)}</td> : null}
                <td className="wf-actions">
                  <ConfirmButton label="Delete" question={`Delete ${r.name}? Workflows that use it fail until it is set again.`} testId={`btn-delete-secret-${r.name}`} onConfirm={() => remove(r.name)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
