// The sign-in page (access control on, nobody signed in). The URL is left as it is, so after sign-in the
// app shows the page the user was going to. A wrong email or password (401) and a throttled sign-in (429,
// with the wait) are said under the form.
import { useState, type FormEvent } from "react";
import { api, ApiError } from "../lib/api";
import { setSession, waitText } from "../lib/session";

export function SignIn({ setupNeeded }: { setupNeeded?: boolean }) {
  const [email, setEmail] = useState(() => localStorage.getItem("wasmflow.email") ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim() || !password) {
      setError("Enter your email and password.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api.login(email.trim(), password);
      localStorage.setItem("wasmflow.email", r.user.email);
      setSession({ auth: true, user: r.user, csrf: r.csrf });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError("Wrong email or password.");
      else if (err instanceof ApiError && err.status === 429)
        setError(`Too many failed sign-ins. Try again in ${waitText(err.retryAfter ?? NaN)}.`);
      else setError((err as Error).message);
      setPassword("");
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="wf-signin-page">
      <form className="wf-signin" data-testid="signin-form" onSubmit={(e) => void submit(e)}>
        <div className="wf-logo wf-signin-logo">
          <span className="wf-logo-mark">◆</span> wasmflow
        </div>
        <h1>Sign in</h1>
        {setupNeeded ? (
          <div className="wf-signin-setup" data-testid="signin-setup">
            No users yet. Create the first admin on the server:
            <code className="wf-mono">wasmflow users create you@example.com --admin</code>
          </div>
        ) : null}
        <label className="wf-label" htmlFor="wf-signin-email">
          Email
        </label>
        <input
          id="wf-signin-email"
          className="wf-input"
          data-testid="signin-email"
          type="email"
          autoComplete="username"
          autoFocus={!email}
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <label className="wf-label" htmlFor="wf-signin-password">
          Password
        </label>
        <input
          id="wf-signin-password"
          className={`wf-input${error ? " wf-invalid" : ""}`}
          data-testid="signin-password"
          type="password"
          autoComplete="current-password"
          autoFocus={!!email}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error ? (
          <div className="wf-signin-error" role="alert" data-testid="signin-error">
            {error}
          </div>
        ) : null}
        <button className="wf-btn wf-btn-primary wf-signin-submit" data-testid="btn-sign-in" type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
