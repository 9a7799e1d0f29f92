// Messages between the page (index.ts) and the dry-run worker (worker.ts).
import type { ApprovalDecision, ApprovalRequest, DryRunEvent, HostErrorDoc, Mocks, RecordedCall } from "./types";

export interface StartMessage {
  type: "start";
  digest: string;
  document: { nodes?: unknown[] } | null;
  input: unknown;
  mocks: Mocks;
  stopAfter?: string;
  replay?: RecordedCall[];
  canAskApproval: boolean;
  baseUrl: string;
}

export interface ApprovalAnswer {
  type: "approval";
  id: number;
  decision: ApprovalDecision;
}

export type ToWorker = StartMessage | ApprovalAnswer;

export type FromWorker =
  | { type: "event"; event: DryRunEvent }
  | { type: "call"; call: RecordedCall }
  | { type: "loaded"; ms: number; runtime?: string | null }
  | { type: "approval"; id: number; request: ApprovalRequest }
  | {
      type: "done";
      status: "succeeded" | "failed" | "stopped" | "crashed";
      output?: unknown;
      error?: HostErrorDoc & { node?: string | null };
      nodeOutputs?: Record<string, unknown>;
    };
