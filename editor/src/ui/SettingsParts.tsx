// Parts the Settings screens share: a form field with the server's message under it, a button that asks
// before it deletes, and the box for a list that could not be loaded (a 403 in words).
import { useState, type ReactNode } from "react";

export type ToastFn = (text: string, kind?: "info" | "error") => void;

/** A labelled form field with the server's message for it underneath. */
export function Field({ label, hint, error, name, children }: { label: string; hint?: string; error?: string | null; name: string; children: ReactNode }) {
  return (
    <div className={`wf-settings-field${error ? " is-invalid" : ""}`}>
      <label className="wf-label" htmlFor={`wf-settings-${name}`}>
        {label}
        {hint ? <span className="wf-hint">{hint}</span> : null}
      </label>
      {children}
      {error ? (
        <div className="wf-field-error" role="alert" data-testid={`field-error-${name}`}>
          {error}
        </div>
      ) : null}
    </div>
  );
}

/** A destructive button that asks first, in place: "Revoke" -> "Revoke ci? … [Revoke] [Cancel]". */
export function ConfirmButton({ label, question, confirmLabel, onConfirm, testId, disabled }: { label: string; question: string; confirmLabel?: string; onConfirm: () => Promise<unknown>; testId: string; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking)
    return (
      <button className="wf-btn wf-btn-xs wf-btn-danger" data-testid={testId} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span className="wf-confirm" role="group" data-testid={`${testId}-confirm`}>
      <span className="wf-confirm-question">{question}</span>
      <button
        className="wf-btn wf-btn-xs wf-btn-danger-solid"
        data-testid={`${testId}-yes`}
        disabled={busy}
        autoFocus
        onClick={() => {
          setBusy(true);
          void onConfirm().finally(() => {
            setBusy(false);
            setAsking(false);
          });
        }}
      >
        {confirmLabel ?? label}
      </button>
      <button className="wf-btn wf-btn-xs wf-btn-ghost" data-testid={`${testId}-no`} disabled={busy} onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** What a screen shows when its list could not be loaded: the 403 in words, or the error as the server said it. */
export function LoadProblem({ text }: { text: string }) {
  return (
    <div className="wf-alert wf-alert-error wf-settings-refused" role="alert" data-testid="settings-refused">
      {text}
    </div>
  );
}
