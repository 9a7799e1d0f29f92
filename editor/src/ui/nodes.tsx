// Canvas node components. Memoised: React Flow re-renders a node only when its node object changes, and the
// flow cache (dsl/flow.ts) keeps node objects stable unless that node moved, changed or got a new status.
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import type { WfNode } from "../dsl/flow";
import { isTrigger } from "../dsl/graph";
import { PORT_ROW } from "../dsl/layout";
import { typeLabel } from "../lib/schema";
import { focusTool, KIND_ICON, KIND_LABEL, toolChips } from "./agent";
import { formatMs } from "./format";

function Badges({ data, id }: { data: WfNode["data"]; id: string }) {
  const { deco, problems } = data;
  return (
    <>
      {problems?.length ? (
        <span className="wf-badge wf-badge-error" data-testid={`node-error-${id}`} title={problems.map((p) => p.message).join("\n")}>
          {problems.length} {problems.length === 1 ? "issue" : "issues"}
        </span>
      ) : null}
      {deco ? (
        <span
          className={`wf-badge wf-status-${deco.status}${deco.stale ? " is-stale" : ""}`}
          data-testid={`node-status-${id}`}
          data-status={deco.status}
          data-stale={deco.stale ? "true" : undefined}
          title={deco.stale ? `from an older version of this workflow (edited since): ${deco.error ?? deco.status}` : (deco.error ?? undefined)}
        >
          {deco.status === "running" ? <span className="wf-spin" /> : null}
          {deco.status}
          {deco.stale ? " · stale" : ""}
          {deco.duration_ms !== undefined && deco.duration_ms !== null ? ` · ${formatMs(deco.duration_ms)}` : ""}
        </span>
      ) : null}
      {deco?.replayed?.length ? (
        <span
          className="wf-badge wf-badge-replayed"
          data-testid={`node-replayed-${id}`}
          title={`The server answered from its idempotency cache (Idempotent-Replayed) for key ${deco.replayed.map((r) => `${r.key} (HTTP ${r.status})`).join(", ")}: the effect was applied once, earlier`}
        >
          ↺ replayed by server
        </span>
      ) : null}
    </>
  );
}

function Ports({ id, ports }: { id: string; ports: string[] }) {
  const multi = ports.length > 1 || (ports.length === 1 && ports[0] !== "out");
  return (
    <>
      {ports.map((port, i) => {
        const top = multi ? 28 + i * PORT_ROW + PORT_ROW / 2 : undefined;
        return (
          <Handle
            key={port}
            id={port}
            type="source"
            position={Position.Right}
            className={`wf-handle wf-handle-out${port === "error" ? " wf-handle-error" : ""}`}
            style={top !== undefined ? { top } : undefined}
            data-testid={`handle-${id}-${port}`}
            title={port}
          />
        );
      })}
      {multi ? (
        <div className="wf-port-labels">
          {ports.map((port) => (
            <div key={port} className={`wf-port-label${port === "error" ? " wf-port-error" : ""}`} style={{ height: PORT_ROW }}>
              {port}
            </div>
          ))}
        </div>
      ) : null}
    </>
  );
}

export const FlowNodeView = memo(function FlowNodeView({ id, data, selected, sub }: NodeProps<WfNode> & { sub?: string }) {
  const { node, ports, deco, problems, isHandler } = data;
  const t = typeLabel(node.type);
  const cls = [
    "wf-node",
    selected ? "is-selected" : "",
    problems?.length ? "is-invalid" : "",
    deco ? `is-${deco.status}` : "",
  ].join(" ");
  return (
    <div className={cls} data-testid={`node-${id}`} data-type={node.type} style={{ ["--accent" as string]: t.color }}>
      {!isTrigger(node.type) ? <Handle type="target" id="in" position={Position.Left} className="wf-handle wf-handle-in" data-testid={`handle-${id}-in`} /> : null}
      <div className="wf-node-head">
        <span className="wf-node-icon">{t.icon}</span>
        <div className="wf-node-titles">
          <div className="wf-node-title">{node.title || node.id}</div>
          <div className="wf-node-sub">
            {t.label}
            {sub ? <span className="wf-node-model"> · {sub}</span> : null}
            {node.title ? <span className="wf-node-id"> · {node.id}</span> : null}
            {isHandler ? <span className="wf-tag">error handler</span> : null}
            {node.notes ? <span className="wf-tag" title={node.notes}>note</span> : null}
          </div>
        </div>
      </div>
      <div className="wf-node-badges">
        <Badges data={data} id={id} />
      </div>
      {deco?.output !== undefined ? (
        <div className={`wf-node-output${deco.stale ? " is-stale" : ""}`} data-testid={`node-output-${id}`} data-stale={deco.stale ? "true" : undefined} title={deco.stale ? `from an older version: run again · ${deco.output}` : deco.output}>
          {deco.output}
        </div>
      ) : null}
      {deco?.usage ? (
        <div className="wf-node-usage" data-testid={`node-usage-${id}`} title="model turns, tokens in + out, cost">
          {deco.usage}
        </div>
      ) : null}
      {deco?.status === "failed" && deco.error ? <div className="wf-node-failure">{deco.error}</div> : null}
      <Ports id={id} ports={ports} />
    </div>
  );
});

/** An agent node: the node, with its tools hanging under it as small attached chips (click one to edit it). */
export const AgentNodeView = memo(function AgentNodeView(props: NodeProps<WfNode>) {
  const { id, data } = props;
  const chips = toolChips(data.node.config as Record<string, unknown> | undefined);
  const model = (data.node.config as { model?: { model?: unknown } } | undefined)?.model?.model;
  return (
    <div className="wf-agent-node" style={{ ["--accent" as string]: typeLabel("agent").color }}>
      <FlowNodeView {...props} sub={typeof model === "string" && model ? model : undefined} />
      {chips.length ? (
        <div className="wf-agent-tools" data-testid={`agent-tools-${id}`}>
          {chips.map((c, i) => (
            <div
              key={i}
              className={`wf-agent-chip${c.kind ? "" : " is-invalid"}`}
              data-testid={`agent-tool-${id}-${c.name}`}
              title={`${c.name}: ${c.kind ? KIND_LABEL[c.kind] : "does nothing yet"}${c.gated ? " · a person approves its calls" : ""} (click to edit)`}
              onClick={() => setTimeout(() => focusTool(id, i), 0)}
            >
              <span className="wf-agent-chip-icon">{c.kind ? KIND_ICON[c.kind] : "?"}</span>
              <span className="wf-agent-chip-name">{c.name}</span>
              {c.gated ? <span className="wf-agent-chip-gate">☑</span> : null}
            </div>
          ))}
        </div>
      ) : null}
    </div>
  );
});

export const MapNodeView = memo(function MapNodeView({ id, data, selected }: NodeProps<WfNode>) {
  const { node, ports, deco, problems } = data;
  const t = typeLabel(node.type);
  const empty = !((node.config?.body as { nodes?: unknown[] } | undefined)?.nodes?.length);
  return (
    <div
      className={`wf-map${selected ? " is-selected" : ""}${problems?.length ? " is-invalid" : ""}${deco ? ` is-${deco.status}` : ""}`}
      data-testid={`node-${id}`}
      data-type="map"
      style={{ width: data.width, height: data.height, ["--accent" as string]: t.color }}
    >
      <Handle type="target" id="in" position={Position.Left} className="wf-handle wf-handle-in" style={{ top: 24 }} data-testid={`handle-${id}-in`} />
      <div className="wf-map-head">
        <span className="wf-node-icon">{t.icon}</span>
        <div className="wf-node-titles">
          <div className="wf-node-title">{node.title || node.id}</div>
          <div className="wf-node-sub">
            for each item · {node.id}
          </div>
        </div>
        <div className="wf-node-badges">
          <Badges data={data} id={id} />
        </div>
      </div>
      {empty ? <div className="wf-map-empty">Drop nodes here: they run once per item</div> : null}
      {deco?.output !== undefined ? (
        <div className={`wf-node-output wf-map-output${deco.stale ? " is-stale" : ""}`} data-testid={`node-output-${id}`} data-stale={deco.stale ? "true" : undefined} title={deco.stale ? `from an older version: run again · ${deco.output}` : deco.output}>
          {deco.output}
        </div>
      ) : null}
      {ports.map((port, i) => (
        <Handle key={port} id={port} type="source" position={Position.Right} className={`wf-handle wf-handle-out${port === "error" ? " wf-handle-error" : ""}`} style={{ top: 24 + i * PORT_ROW }} data-testid={`handle-${id}-${port}`} title={port} />
      ))}
    </div>
  );
});

export const nodeTypes = { wf: FlowNodeView, map: MapNodeView, agent: AgentNodeView };
