// An agent node's conversation in the Run tab (transcript.ts builds it): the prompt sent, each turn of the
// model with its tool calls and what each did, tokens and cost per turn and in all.
import { memo, useState } from "react";
import { formatUsd, type ChatMessage, type ToolItem, type Transcript, type TurnItem } from "./transcript";

function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 1).replace(/\n\s*/g, " ");
}

/** Long text folded to a few lines, unfolded on click. */
function Fold({ value, testId, className, limit = 280 }: { value: string; testId?: string; className?: string; limit?: number }) {
  const [open, setOpen] = useState(false);
  const long = value.length > limit;
  return (
    <div className={`wf-tr-text${className ? ` ${className}` : ""}`} data-testid={testId}>
      {long && !open ? value.slice(0, limit) + "…" : value}
      {long ? (
        <button className="wf-tr-more" onClick={() => setOpen(!open)}>
          {open ? "less" : "more"}
        </button>
      ) : null}
    </div>
  );
}

const ROLE_LABEL: Record<string, string> = { system: "instructions", user: "prompt", assistant: "model", tool: "tool result" };

function Sent({ m, testId }: { m: ChatMessage; testId: string }) {
  return (
    <div className={`wf-tr-msg wf-tr-${m.role}`} data-testid={testId} data-role={m.role}>
      <span className="wf-tr-role">{ROLE_LABEL[m.role] ?? m.role}</span>
      <Fold value={text(m.content)} />
    </div>
  );
}

const STATUS_LABEL: Record<string, string> = {
  running: "running",
  waiting: "waiting for approval",
  ok: "ok",
  error: "error",
  refused: "refused",
  vetoed: "vetoed",
  rejected: "rejected",
  not_run: "not run",
};

function Tool({ t, asked }: { t: ToolItem | undefined; asked: { id: string; name: string; arguments?: unknown; arguments_text?: string; arguments_error?: string } }) {
  const status = t?.status ?? "running";
  const args = asked.arguments !== undefined ? asked.arguments : (asked.arguments_text ?? t?.arguments);
  return (
    <div className={`wf-tr-tool is-${status}`} data-testid={`transcript-tool-${asked.id}`} data-status={status}>
      <div className="wf-tr-tool-head">
        <span className="wf-tr-tool-icon">⚙</span>
        <span className="wf-mono wf-tr-tool-name">{asked.name}</span>
        <span className={`wf-badge wf-tr-status wf-tr-status-${status}`}>{STATUS_LABEL[status] ?? status}</span>
      </div>
      <div className="wf-tr-args wf-mono" data-testid={`transcript-tool-args-${asked.id}`} title="arguments the model gave">
        {text(args) || "{}"}
      </div>
      {asked.arguments_error ? <div className="wf-tr-reason">arguments: {asked.arguments_error}</div> : null}
      {t?.approval ? (
        <div className={`wf-tr-approval is-${t.approval.status}`} data-testid={`transcript-approval-${asked.id}`}>
          ☑ {t.approval.status === "asked" ? "asked a person" : t.approval.status === "timed_out" ? "no decision in time" : t.approval.status}
          {t.approval.by ? ` by ${t.approval.by}` : ""}
          {t.approval.reason ? `: ${t.approval.reason}` : ""}
        </div>
      ) : null}
      {status === "ok" ? (
        // what the model was told (after the after_tool hook) once the next turn shows it, else the result
        <Fold className="wf-mono wf-tr-result" testId={`transcript-tool-result-${asked.id}`} value={`↳ ${text(t?.told ?? t?.result)}`} limit={200} />
      ) : null}
      {status === "error" ? (
        <div className="wf-tr-result wf-tr-error" data-testid={`transcript-tool-result-${asked.id}`}>
          ↳ {t?.error?.code ? `${t.error.code}: ` : ""}
          {t?.error?.message ?? text(t?.error)}
        </div>
      ) : null}
      {(status === "refused" || status === "vetoed" || status === "rejected" || status === "not_run") && t?.reason ? (
        <div className="wf-tr-reason" data-testid={`transcript-tool-result-${asked.id}`}>
          ↳ {t.reason}
        </div>
      ) : null}
    </div>
  );
}

function Turn({ t, tools, final, knownCalls }: { t: TurnItem; tools: Map<string, ToolItem>; final: boolean; knownCalls: Set<string> }) {
  // tool results fed back are shown under the call that made them; other sent messages (the prompt, a
  // re-ask after an invalid answer) are shown as they were sent
  const sent = t.sent.filter((m) => !(m.role === "tool" && typeof m.tool_call_id === "string" && knownCalls.has(m.tool_call_id)));
  return (
    <>
      {sent.map((m, i) => (
        <Sent key={i} m={m} testId={`transcript-sent-${t.turn}-${i}`} />
      ))}
      <div className={`wf-tr-turn${t.error ? " is-error" : ""}`} data-testid={`transcript-turn-${t.turn}`} data-streaming={t.streaming ? "true" : undefined}>
        <div className="wf-tr-turn-head">
          <span className="wf-tr-turn-n">Turn {t.turn}</span>
          {t.model ? <span className="wf-muted wf-tr-model">{t.model}</span> : null}
          <span className="wf-grow" />
          {t.usage ? (
            <span className="wf-tr-tokens" data-testid={`transcript-tokens-${t.turn}`} title="tokens in (prompt) / out (answer)">
              {t.usage.input_tokens} in · {t.usage.output_tokens} out{t.cost_usd !== null && t.cost_usd !== undefined ? ` · ${formatUsd(t.cost_usd)}` : ""}
            </span>
          ) : t.streaming ? (
            <span className="wf-tr-tokens wf-muted">streaming…</span>
          ) : null}
        </div>
        {t.retried && !t.error ? (
          <div className="wf-tr-reason wf-tr-retried" data-testid={`transcript-turn-retried-${t.turn}`}>
            answered after {t.retried.times} retr{t.retried.times === 1 ? "y" : "ies"} ({t.retried.error.code ?? "error"}: {t.retried.error.message})
          </div>
        ) : null}
        {t.error ? (
          <div className="wf-tr-result wf-tr-error" data-testid={`transcript-turn-error-${t.turn}`}>
            {t.error.code ? `${t.error.code}: ` : ""}
            {t.error.message}
          </div>
        ) : null}
        {t.content ? (
          <div className={`wf-tr-msg wf-tr-assistant${final ? " is-final" : ""}`} data-testid={final ? "transcript-final" : `transcript-answer-${t.turn}`}>
            <span className="wf-tr-role">{final ? "final answer" : "model"}</span>
            <div className="wf-tr-text">
              {t.content}
              {t.streaming ? <span className="wf-tr-caret" data-testid="transcript-streaming" /> : null}
            </div>
          </div>
        ) : t.streaming ? (
          <div className="wf-tr-msg wf-tr-assistant" data-testid="transcript-streaming">
            <span className="wf-tr-caret" />
          </div>
        ) : null}
        {t.toolCalls.map((c) => (
          <Tool key={c.id} t={tools.get(c.id)} asked={c} />
        ))}
      </div>
    </>
  );
}

export const TranscriptView = memo(function TranscriptView({ transcript }: { transcript: Transcript }) {
  const tools = new Map<string, ToolItem>();
  for (const it of transcript.items) if (it.kind === "tool") tools.set(it.call_id, it);
  const turns = transcript.items.filter((it): it is TurnItem => it.kind === "turn");
  const asked = new Set(turns.flatMap((t) => t.toolCalls.map((c) => c.id)));
  const last = turns[turns.length - 1];
  const { total } = transcript;
  return (
    <div className="wf-transcript" data-testid="transcript">
      <div className="wf-section-title">Conversation</div>
      {transcript.restarts ? (
        <div className="wf-muted wf-tr-restarts" data-testid="transcript-restarts">
          The node started over {transcript.restarts === 1 ? "once" : `${transcript.restarts} times`} (a retry, or one run per map item): this is the last.
        </div>
      ) : null}
      {!transcript.items.length ? <div className="wf-muted">The model has not been asked yet.</div> : null}
      {transcript.items.map((it, i) => {
        if (it.kind === "turn") return <Turn key={`t${it.turn}`} t={it} tools={tools} knownCalls={asked} final={it === last && !it.streaming && !it.error && !it.toolCalls.length && !!it.content} />;
        if (it.kind === "tool") {
          if (asked.has(it.call_id)) return null; // shown under the turn that asked for it
          return <Tool key={`c${it.call_id}`} t={it} asked={{ id: it.call_id, name: it.tool, arguments: it.arguments }} />;
        }
        return (
          <div key={`a${i}`} className={`wf-tr-approval is-${it.approval.status}`}>
            ☑ approval {it.approval.status}
            {it.approval.title ? `: ${it.approval.title}` : ""}
            {it.approval.by ? ` by ${it.approval.by}` : ""}
            {it.approval.reason ? ` (${it.approval.reason})` : ""}
          </div>
        );
      })}
      {turns.length ? (
        <div className="wf-tr-total" data-testid="transcript-total">
          <b>
            {transcript.turns} turn{transcript.turns === 1 ? "" : "s"}
          </b>
          <span>
            {total.input_tokens} in · {total.output_tokens} out · {total.input_tokens + total.output_tokens} tokens
          </span>
          {total.cost_usd !== null ? <span data-testid="transcript-cost">{formatUsd(total.cost_usd)}</span> : <span className="wf-muted">no prices set</span>}
        </div>
      ) : null}
    </div>
  );
});
