// Node types grouped for users, from the server's schema. Drag onto the canvas (HTML5 drag and drop), or click
// to add next to the selected node.
import { memo, useState } from "react";
import { paletteGroups, typeLabel, type DslSchema } from "../lib/schema";

export const Palette = memo(function Palette({ schema, dndType, onAdd }: { schema: DslSchema; dndType: string; onAdd: (type: string) => void }) {
  const [filter, setFilter] = useState("");
  const f = filter.trim().toLowerCase();
  return (
    <nav className="wf-palette" data-testid="palette">
      <input className="wf-input wf-palette-search" placeholder="Search nodes…" value={filter} onChange={(e) => setFilter(e.target.value)} data-testid="palette-search" />
      {paletteGroups(schema).map((g) => {
        const items = g.types.filter((t) => !f || t.type.includes(f) || typeLabel(t.type).label.toLowerCase().includes(f) || t.summary.toLowerCase().includes(f));
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
                  title={`${t.summary}\nOutput: ${t.output}\nDrag onto the canvas, or click to add`}
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
