// Node types grouped for users, from the server's schema. Drag onto the canvas (HTML5 drag and drop), or click
// to add next to the selected node.
import { memo, useState } from "react";
import { paletteGroups, typeLabel, type DslSchema } from "../lib/schema";
import { helpText, matchesType } from "./nodeinfo";

export const Palette = memo(function Palette({ schema, dndType, onAdd, onCollapse }: { schema: DslSchema; dndType: string; onAdd: (type: string) => void; onCollapse: () => void }) {
  const [filter, setFilter] = useState("");
  const f = filter.trim().toLowerCase();
  const groups = paletteGroups(schema).map((g) => ({ ...g, items: g.types.filter((t) => matchesType(t, f)) }));
  return (
    <nav className="wf-palette" data-testid="palette">
      <div className="wf-panel-bar">
        <input className="wf-input wf-palette-search" placeholder="Search: if, loop, json, api…" value={filter} onChange={(e) => setFilter(e.target.value)} data-testid="palette-search" />
        <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-collapse-palette" title="Hide the palette" onClick={onCollapse}>
          «
        </button>
      </div>
      {f && !groups.some((g) => g.items.length) ? <div className="wf-muted wf-palette-none" data-testid="palette-empty">No node type matches “{filter.trim()}”.</div> : null}
      {groups.map((g) => {
        const items = g.items;
        if (!items.length) return null;
        return (
          <div key={g.name} className="wf-palette-group">
            <div className="wf-palette-title">{g.name}</div>
            {items.map((t) => {
              const l = typeLabel(t.type);
              return (
                <div
                  key={t.type}
                  className="wf-palette-item"
                  data-testid={`palette-${t.type}`}
                  draggable
                  title={`${helpText(t, t.type)}\nOutput: ${t.output}\nDrag onto the canvas, or click to add`}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(dndType, t.type);
                    e.dataTransfer.setData("text/plain", t.type);
                    e.dataTransfer.effectAllowed = "copy";
                  }}
                  onClick={() => onAdd(t.type)}
                  style={{ ["--accent" as string]: l.color }}
                >
                  <span className="wf-palette-icon">{l.icon}</span>
                  <span className="wf-palette-text">
                    <span className="wf-palette-label">{l.label}</span>
                    <span className="wf-palette-summary">{t.summary}</span>
                  </span>
                </div>
              );
            })}
          </div>
        );
      })}
    </nav>
  );
});
