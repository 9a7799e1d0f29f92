import { useCallback, useRef, useState } from "react";

export interface Toast {
  id: number;
  text: string;
  kind: "info" | "error";
}

export function useToasts() {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const toast = useCallback((text: string, kind: "info" | "error" = "info") => {
    const id = next.current++;
    setToasts((t) => [...t.slice(-3), { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === "error" ? 6000 : 3000);
  }, []);
  return { toasts, toast };
}

/** The toasts, stacked. `inCanvas`: at the bottom of the editor's canvas, above the bottom panel, so they
 * never cover its inputs (approvals, run input) or the top bar; they let clicks through to the canvas. */
export function Toasts({ toasts, inCanvas = false }: { toasts: Toast[]; inCanvas?: boolean }) {
  return (
    <div className={`wf-toasts${inCanvas ? " wf-toasts-canvas" : ""}`} aria-live="polite" data-testid="toasts">
      {toasts.map((t) => (
        <div key={t.id} className={`wf-toast wf-toast-${t.kind}`} data-testid={t.kind === "error" ? "toast-error" : "toast"}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
