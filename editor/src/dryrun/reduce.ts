// Pure summaries of a dry run: per-node state from the event stream, and what the run recorded.
import type { DryRunEvent, DryRunResult, NodeResult, RecordedCall } from "./types";

/** One NodeResult per node id, in the order nodes first appear; a map body node shows its latest item. */
export function reduceNodes(events: DryRunEvent[]): Record<string, NodeResult> {
  const out: Record<string, NodeResult> = {};
  for (const e of events) {
    const n = (out[e.node] ??= { node: e.node, status: e.status, attempts: 0 });
    n.status = e.status;
    if (e.status === "started") {
      n.attempts += 1;
      n.input = e.input;
      delete n.error;
      delete n.output;
    }
    if (e.output !== undefined) n.output = e.output;
    if (e.error !== undefined) n.error = e.error;
    if (e.duration_ms !== undefined) n.duration_ms = e.duration_ms;
  }
  return out;
}

/** kv writes, log lines and the webhook response, from the recorded calls. */
export function summarizeCalls(calls: RecordedCall[]): Pick<DryRunResult, "kvWrites" | "logs" | "webhookResponse"> {
  const kvWrites: DryRunResult["kvWrites"] = [];
  const logs: DryRunResult["logs"] = [];
  let webhookResponse: DryRunResult["webhookResponse"];
  for (const c of calls) {
    if (!c || c.error) continue;
    const r = (c.request ?? {}) as Record<string, unknown>;
    if (c.capability === "kv.set") {
      kvWrites.push({ node: c.node, namespace: String(r.namespace), key: String(r.key), value: r.value });
    } else if (c.capability === "log.write") {
      logs.push({ node: c.node, level: String(r.level ?? "info"), message: String(r.message ?? "") });
    } else if (c.capability === "webhook.respond" && webhookResponse === undefined) {
      webhookResponse = { status: Number(r.status), headers: r.headers as Record<string, unknown>, body: r.body };
    }
  }
  return { kvWrites, logs, webhookResponse };
}
