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

export function Toasts({ toasts }: { toasts: Toast[] }) {
  return (
    <div className="wf-toasts" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`wf-toast wf-toast-${t.kind}`} data-testid={t.kind === "error" ? "toast-error" : "toast"}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
