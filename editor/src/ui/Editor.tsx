// The workflow editor: top bar, palette, canvas, inspector, bottom panel. The state is the DSL document in an
// undo history; the canvas is a view of it (dsl/flow.ts); autosave PUTs it (state/autosave.ts).
import "@xyflow/react/dist/style.css";
import {
  Background,
  BackgroundVariant,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type FinalConnectionState,
  type NodeChange,
} from "@xyflow/react";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { DryRunEvent, DryRunHandle, DryRunResult, Mock, Mocks, ApprovalRequest, ApprovalDecision, RecordedCall } from "../dryrun/types";
import { createFlowCache, type NodeDecoration, type NodeStatus } from "../dsl/flow";
import {
  addEdge,
  addNode,
  connectionProblem,
  edgesOf,
  freshId,
  indexNodes,
  isTrigger,
  removeElements,
  renameNode,
  setPositions,
  updateNode,
} from "../dsl/graph";
import { autoLayout, BODY_OFFSET, hasOverlaps, missingPositions, nodeSize } from "../dsl/layout";
import { placeProblems, type PlacedProblems } from "../dsl/problems";
import type { DslDocument, DslEdge, DslNode, Problem } from "../dsl/types";
import { api, ApiError, type DeployAnswer, type WorkflowDetail } from "../lib/api";
import { starterConfig, typeLabel, type DslSchema } from "../lib/schema";
import { needsText, sessionCan, useSession } from "../lib/session";
import { UserMenu } from "./UserMenu";
import { Autosaver, type SaveState } from "../state/autosave";
import { canRedo, canUndo, commit, createHistory, redo, replace, undo, type History } from "../state/history";
import { BottomPanel, type BottomTab } from "./BottomPanel";
import { Inspector, type NodeRunInfo } from "./Inspector";
import { edgeTypes } from "./edges";
import { searchTypes } from "./nodeinfo";
import { nodeTypes } from "./nodes";
import { Palette } from "./Palette";
import type { Deployed } from "./runs";
import type { RunView } from "./runview";
import { agentIds, answerOf, reduceTranscript, stepsFromCalls, usageLine, type Transcript } from "./transcript";
import { clampToViewport, legibleViewport } from "./viewport";
import { useToasts, Toasts } from "./Toasts";
import { callsOf, receivedOf } from "./received";
import { compileStatusText, isStale, programKey, STALE_TEXT } from "./staleness";

export interface EditorProps {
  name: string;
  schema: DslSchema;
  initial: { revision: number; draft: DslDocument; valid?: boolean; errors?: Problem[]; digest?: string | null; deployment?: WorkflowDetail["deployment"] };
  /** A server run to open in the Runs tab (the runs page links here: #/w/<name>?run=<id>). */
  openRun?: string | null;
}

const NO_PROBLEMS: PlacedProblems = { byNode: new Map(), byPointer: new Map(), general: [], all: [] };
const DND_TYPE = "application/x-wasmflow-node";

export function preview(v: unknown): string {
  if (v === undefined) return "";
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "…" : s;
}

/** A starting run input: what the trigger hands over (a webhook request, a schedule tick, or {}). */
export function defaultInput(doc: DslDocument): string {
  const trigger = doc.nodes.find((n) => isTrigger(n.type))?.type;
  if (trigger === "trigger.webhook")
    return JSON.stringify({ method: "POST", path: "/", headers: { "content-type": "application/json" }, query: {}, body: {} }, null, 2);
  if (trigger === "trigger.schedule") return JSON.stringify({ scheduled_at: new Date().toISOString().slice(0, 19) + "Z" }, null, 2);
  return "{}";
}

type Panels = { palette: boolean; inspector: boolean };
const PANELS_KEY = "wasmflow.panels";
/** Which side panels are open (remembered across workflows and reloads). */
function loadPanels(): Panels {
  try {
    const p = JSON.parse(localStorage.getItem(PANELS_KEY) ?? "{}") as Partial<Panels>;
    return { palette: p.palette !== false, inspector: p.inspector !== false };
  } catch {
    return { palette: true, inspector: true };
  }
}

function loadMocks(name: string): Mocks {
  try {
    return JSON.parse(localStorage.getItem(`wasmflow.mocks.${name}`) ?? "{}") as Mocks;
  } catch {
    return {};
  }
}

export function Editor(props: EditorProps) {
  return (
    <ReactFlowProvider>
      <EditorInner {...props} />
    </ReactFlowProvider>
  );
}

/** The deployed version new server runs use, with its trigger and inputs schema (from its document). */
async function loadDeployed(name: string, deployment?: WorkflowDetail["deployment"]): Promise<Deployed | null> {
  const dep = deployment === undefined ? (await api.get(name)).deployment : deployment;
  if (!dep || dep.active === false || !dep.version) return null;
  const v = await api.version(name, dep.version);
  const trigger = v.dsl.nodes.find((n) => isTrigger(n.type))?.type ?? null;
  return { version: v.version, digest: v.digest, trigger, inputs: v.dsl.inputs };
}

function EditorInner({ name, schema, initial, openRun }: EditorProps) {
  const rf = useReactFlow();
  const [hist, setHist] = useState<History<DslDocument>>(() => createHistory(initial.draft));
  const doc = hist.present;
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [selectedEdges, setSelectedEdges] = useState<Set<string>>(new Set());
  const [problemList, setProblemList] = useState<Problem[]>(initial.errors ?? []);
  const [saveState, setSaveState] = useState<SaveState>("saved");
  const [saveDetail, setSaveDetail] = useState<string | undefined>();
  const [draftDigest, setDraftDigest] = useState<string | null>(initial.digest ?? null);
  const [testedDigest, setTestedDigest] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [run, setRun] = useState<RunView | null>(null);
  const [dryResult, setDryResult] = useState<DryRunResult | null>(null);
  const [mocks, setMocks] = useState<Mocks>(() => loadMocks(name));
  const [input, setInput] = useState<string>(() => localStorage.getItem(`wasmflow.input.${name}`) ?? defaultInput(initial.draft));
  const [approval, setApproval] = useState<{ req: ApprovalRequest; resolve: (d: ApprovalDecision) => void } | null>(null);
  const [deployInfo, setDeployInfo] = useState<DeployAnswer | null>(null);
  const [deployed, setDeployed] = useState<Deployed | null>(null);
  const [confirm, setConfirm] = useState<{ text: string; ok: string; action: () => void } | null>(null);
  // Just imported with problems (Home.tsx): open with the Problems tab showing them.
  const [bottom, setBottom] = useState<BottomTab | null>(() => {
    if (openRun) return "runs";
    if (sessionStorage.getItem("wasmflow.imported-draft") !== name) return null;
    sessionStorage.removeItem("wasmflow.imported-draft");
    return initial.errors?.length ? "problems" : null;
  });
  const [overlap, setOverlap] = useState(() => hasOverlaps(initial.draft, missingPositions(initial.draft)));
  const [quickAdd, setQuickAdd] = useState<{ x: number; y: number; from: string; port: string; parent: string | null } | null>(null);
  const [menu, setMenu] = useState<{ x: number; y: number; id: string } | null>(null);
  const [measured, setMeasured] = useState<Map<string, { width: number; height: number }>>(new Map());
  const [panels, setPanels] = useState<Panels>(loadPanels);
  const [shortcuts, setShortcuts] = useState(false);
  const dark = useSystemDark();
  const togglePanel = useCallback((k: keyof Panels) => {
    setPanels((p) => {
      const next = { ...p, [k]: !p[k] };
      localStorage.setItem(PANELS_KEY, JSON.stringify(next));
      return next;
    });
  }, []);
  const measuredRef = useRef(measured);
  const { toasts, toast } = useToasts();
  // Access control (lib/session.ts): editing, test runs (they compile) and deploys need "design" (editor);
  // below it the editor is read-only: nothing is saved, and those buttons are not shown.
  const session = useSession();
  const canDesign = sessionCan(session, "design");
  const readOnlyWhy = needsText(session, "design");
  const dryHandle = useRef<DryRunHandle | null>(null);
  const clipboard = useRef<{ nodes: DslNode[]; edges: DslEdge[] } | null>(null);
  const dragBase = useRef<DslDocument | null>(null);
  const docRef = useRef(doc);
  docRef.current = doc;

  // ---- autosave ----
  const saver = useMemo(
    () =>
      new Autosaver(
        {
          put: async (revision, draft) => {
            try {
              const r = await api.save(name, revision, draft);
              return { revision: r.revision, valid: r.valid !== false, errors: r.errors ?? [], digest: r.digest ?? null };
            } catch (e) {
              if (e instanceof ApiError) throw { status: e.status, code: e.code, message: e.message, problems: e.problems };
              throw { status: 0, message: String(e) };
            }
          },
          fetch: async () => {
            const w = await api.get(name);
            return { revision: w.revision, draft: w.draft };
          },
        },
        {
          onState: (s, d) => {
            setSaveState(s);
            setSaveDetail(d);
          },
          onSaved: (r) => {
            // Pointers are into the saved document; edits made meanwhile are saved (and re-checked) next.
            setProblemList(r.errors);
            setDraftDigest(r.valid ? r.digest : null);
          },
          onReload: (draft) => {
            setHist(createHistory(draft));
            toast("Loaded the server's version");
          },
        },
        initial.revision,
        initial.draft,
      ),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [name],
  );
  // Leaving the editor (back to the list) saves what the debounce still holds.
  useEffect(() => () => void saver.flush().catch(() => {}), [saver]);
  useEffect(() => {
    if (canDesign) saver.change(doc);
  }, [doc, saver, canDesign]);
  useEffect(() => localStorage.setItem(`wasmflow.mocks.${name}`, JSON.stringify(mocks)), [mocks, name]);
  useEffect(() => localStorage.setItem(`wasmflow.input.${name}`, input), [input, name]);
  // What is deployed decides whether the Runs tab offers "Run on server": known at open, after a deploy
  // here, and looked up again when the Runs tab opens (a deploy from the CLI or another tab meanwhile).
  const deployedAsked = useRef(0); // only the latest look-up is shown (a deploy may answer after an older one)
  const refreshDeployed = useCallback(
    (deployment?: WorkflowDetail["deployment"]) => {
      const asked = ++deployedAsked.current;
      loadDeployed(name, deployment)
        .then((d) => asked === deployedAsked.current && setDeployed(d))
        .catch(() => {});
    },
    [name],
  );
  useEffect(() => {
    refreshDeployed(initial.deployment ?? null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refreshDeployed]);
  useEffect(() => {
    if (bottom === "runs") refreshDeployed();
  }, [bottom, refreshDeployed]);
  useEffect(() => {
    if (openRun) setBottom("runs");
  }, [openRun]);
  useEffect(() => {
    const warn = (e: BeforeUnloadEvent) => {
      if (saver.state !== "saved") e.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [saver]);

  const problems = useMemo(() => (problemList.length ? placeProblems(doc, problemList) : NO_PROBLEMS), [doc, problemList]);

  // ---- edits ----
  const change = useCallback((next: DslDocument, coalesce?: string) => setHist((h) => commit(h, next, coalesce ?? null)), []);
  const edit = useCallback((fn: (d: DslDocument) => DslDocument, coalesce?: string) => setHist((h) => commit(h, fn(h.present), coalesce ?? null)), []);
  const doUndo = useCallback(() => setHist((h) => undo(h)), []);
  const doRedo = useCallback(() => setHist((h) => redo(h)), []);

  // ---- canvas view ----
  const toFlow = useMemo(() => createFlowCache(), []);
  const display = useMemo(() => missingPositions(doc), [doc]);
  // A dry run's results stay on the canvas after an edit, marked stale: they are of the digest that ran. At
  // once after an edit of the program (before autosave knows the new digest); a drag changes nothing.
  const staleRun = useMemo(
    () =>
      run?.source === "dry" &&
      isStale({ runDigest: run.digest, draftDigest, saved: saveState === "saved", runKey: run.docKey, docKey: saveState === "saved" || !run.docKey ? null : programKey(doc) }),
    [run, draftDigest, saveState, doc],
  );
  const decorations = useMemo(() => {
    const base = run?.decorations ?? EMPTY_DECO;
    if (!staleRun) return base;
    const marked = new Map<string, NodeDecoration>();
    for (const [id, d] of base) marked.set(id, { ...d, stale: true });
    return marked;
  }, [run, staleRun]);
  const flow = useMemo(
    () => toFlow({ doc, display, selected, selectedEdges, problems: problems.byNode, decorations, measured }),
    [toFlow, doc, display, selected, selectedEdges, problems, decorations, measured],
  );

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    const moves = new Map<string, { x: number; y: number }>();
    let sel: Set<string> | null = null;
    let dims: Map<string, { width: number; height: number }> | null = null;
    for (const c of changes) {
      if (c.type === "position" && c.position) {
        const loc = indexNodes(docRef.current).get(c.id);
        // A body node stays inside its map box (the box grows to the right and down, never left or up).
        const p = loc?.parent ? { x: Math.max(0, c.position.x - BODY_OFFSET.x), y: Math.max(0, c.position.y - BODY_OFFSET.y) } : c.position;
        moves.set(c.id, p);
      } else if (c.type === "dimensions" && c.dimensions) {
        const cur = measuredRef.current.get(c.id);
        if (!cur || cur.width !== c.dimensions.width || cur.height !== c.dimensions.height) {
          dims ??= new Map(measuredRef.current);
          dims.set(c.id, { width: c.dimensions.width, height: c.dimensions.height });
        }
      } else if (c.type === "select") {
        sel ??= new Set(selectedRef.current);
        if (c.selected) sel.add(c.id);
        else sel.delete(c.id);
      }
    }
    if (moves.size) setHist((h) => replace(h, setPositions(h.present, moves)));
    if (sel) setSelected(sel);
    if (dims) {
      measuredRef.current = dims;
      setMeasured(dims);
    }
  }, []);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  const selectedEdgesRef = useRef(selectedEdges);
  selectedEdgesRef.current = selectedEdges;

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    let sel: Set<string> | null = null;
    for (const c of changes)
      if (c.type === "select") {
        sel ??= new Set(selectedEdgesRef.current);
        if (c.selected) sel.add(c.id);
        else sel.delete(c.id);
      }
    if (sel) setSelectedEdges(sel);
  }, []);

  const onNodeDragStart = useCallback(() => {
    dragBase.current = docRef.current;
  }, []);
  const onNodeDragStop = useCallback(() => {
    const base = dragBase.current;
    dragBase.current = null;
    if (!base) return;
    // One undo step per drag: the document before the drag goes on the stack once.
    setHist((h) => (h.present === base ? h : { ...h, past: [...h.past, base], future: [], coalesceKey: null }));
  }, []);

  const isValidConnection = useCallback(
    (c: Connection | { source: string; target: string; sourceHandle?: string | null }) => connectionProblem(docRef.current, c) === null,
    [],
  );
  const onConnect = useCallback(
    (c: Connection) => {
      const problem = connectionProblem(docRef.current, c);
      if (problem) {
        toast(problem, "error");
        return;
      }
      const parent = indexNodes(docRef.current).get(c.source)?.parent ?? null;
      const port = c.sourceHandle || "out";
      const e: DslEdge = port === "out" ? { from: c.source, to: c.target } : { from: c.source, to: c.target, port };
      edit((d) => addEdge(d, parent, e));
    },
    [edit, toast],
  );
  const onConnectEnd = useCallback(
    (ev: MouseEvent | TouchEvent, st: FinalConnectionState) => {
      if (st.isValid || !st.fromNode) return;
      if (!st.toNode) {
        // Dropped on empty canvas from an output: offer the node types, then add and connect the chosen one.
        if (st.fromHandle?.type !== "source") return;
        const pt = "changedTouches" in ev ? ev.changedTouches[0] : ev;
        const loc = indexNodes(docRef.current).get(st.fromNode.id);
        if (!loc) return;
        setQuickAdd({ x: pt.clientX, y: pt.clientY, from: st.fromNode.id, port: st.fromHandle.id ?? "out", parent: loc.parent });
        return;
      }
      const problem = connectionProblem(docRef.current, {
        source: st.fromNode.id,
        sourceHandle: st.fromHandle?.id ?? null,
        target: st.toNode.id,
      });
      if (problem) toast(`Connection refused: ${problem}`, "error");
    },
    [toast],
  );

  // ---- adding nodes ----
  const addNodeAt = useCallback(
    (type: string, pos: { x: number; y: number }) => {
      const d = docRef.current;
      if (isTrigger(type) && d.nodes.some((n) => isTrigger(n.type))) {
        toast("A workflow has exactly one trigger: delete the current one first", "error");
        return;
      }
      // Dropped inside a map box: the node joins the map's body.
      let parent: string | null = null;
      let rel = pos;
      if (!isTrigger(type)) {
        const index = indexNodes(d);
        for (const n of rf.getNodes()) {
          if (n.type !== "map") continue;
          const abs = rf.getInternalNode(n.id)?.internals.positionAbsolute ?? n.position;
          const loc = index.get(n.id);
          if (!loc) continue;
          const size = nodeSize(loc.node, (c) => c.position ?? display.get(c.id) ?? { x: 0, y: 0 });
          if (pos.x >= abs.x && pos.x <= abs.x + size.w && pos.y >= abs.y + 40 && pos.y <= abs.y + size.h) {
            parent = n.id; // innermost wins: later maps in the list are nested deeper
            rel = { x: pos.x - abs.x - BODY_OFFSET.x, y: pos.y - abs.y - BODY_OFFSET.y };
          }
        }
      }
      const id = freshId(d, type.replace(/^trigger\./, "").replace(".", "_"));
      const node: DslNode = { id, type, config: starterConfig(type) as DslNode["config"], position: { x: Math.round(rel.x), y: Math.round(rel.y) } };
      edit((doc) => addNode(doc, node, parent));
      setSelected(new Set([id]));
      setSelectedEdges(new Set());
    },
    [edit, rf, toast, display],
  );
  const onDragOver = useCallback((e: React.DragEvent) => {
    if (e.dataTransfer.types.includes(DND_TYPE) || e.dataTransfer.types.includes("text/plain")) {
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    }
  }, []);
  const onDrop = useCallback(
    (e: React.DragEvent) => {
      const type = e.dataTransfer.getData(DND_TYPE) || e.dataTransfer.getData("text/plain");
      if (!type || !schema.byType.has(type)) return;
      e.preventDefault();
      const p = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addNodeAt(type, { x: p.x - 110, y: p.y - 30 });
    },
    [rf, addNodeAt, schema],
  );
  const addFromPalette = useCallback(
    (type: string) => {
      // Click (not drag): next to the selected node, or at the centre of the view.
      const sel = [...selectedRef.current][0];
      const n = sel ? rf.getInternalNode(sel) : undefined;
      if (n && !indexNodes(docRef.current).get(sel)?.parent) addNodeAt(type, { x: n.internals.positionAbsolute.x + 280, y: n.internals.positionAbsolute.y });
      else {
        const el = document.querySelector(".react-flow");
        const r = el?.getBoundingClientRect();
        const p = rf.screenToFlowPosition({ x: (r?.left ?? 0) + (r?.width ?? 800) / 2, y: (r?.top ?? 0) + (r?.height ?? 600) / 2 });
        addNodeAt(type, { x: p.x - 110, y: p.y - 30 });
      }
    },
    [rf, addNodeAt],
  );

  const addConnected = useCallback(
    (type: string) => {
      const qa = quickAdd;
      setQuickAdd(null);
      if (!qa) return;
      const d = docRef.current;
      const flowPos = rf.screenToFlowPosition({ x: qa.x, y: qa.y });
      let pos = { x: flowPos.x, y: flowPos.y - 30 };
      if (qa.parent) {
        const abs = rf.getInternalNode(qa.parent)?.internals.positionAbsolute ?? { x: 0, y: 0 };
        pos = { x: Math.max(0, pos.x - abs.x - BODY_OFFSET.x), y: Math.max(0, pos.y - abs.y - BODY_OFFSET.y) };
      }
      const id = freshId(d, type.replace(".", "_"));
      const node: DslNode = { id, type, config: starterConfig(type) as DslNode["config"], position: { x: Math.round(pos.x), y: Math.round(pos.y) } };
      const edge: DslEdge = qa.port === "out" ? { from: qa.from, to: id } : { from: qa.from, to: id, port: qa.port };
      edit((doc) => addEdge(addNode(doc, node, qa.parent), qa.parent, edge));
      setSelected(new Set([id]));
    },
    [quickAdd, rf, edit],
  );

  // ---- selection commands ----
  const deleteSelection = useCallback(() => {
    const ids = [...selectedRef.current];
    const edges = [...selectedEdgesRef.current];
    if (!ids.length && !edges.length) return;
    edit((d) => removeElements(d, ids, edges));
    setSelected(new Set());
    setSelectedEdges(new Set());
  }, [edit]);

  const copySelection = useCallback(() => {
    const d = docRef.current;
    const index = indexNodes(d);
    const ids = new Set(selectedRef.current);
    const nodes = [...ids].map((id) => index.get(id)?.node).filter((n): n is DslNode => !!n);
    if (!nodes.length) return;
    const parent = index.get(nodes[0].id)?.parent ?? null;
    const edges = edgesOf(d, parent).filter((e) => ids.has(e.from) && ids.has(e.to));
    clipboard.current = { nodes, edges };
    void navigator.clipboard?.writeText(JSON.stringify({ wasmflow: "nodes", nodes, edges })).catch(() => {});
    toast(`Copied ${nodes.length} node${nodes.length > 1 ? "s" : ""}`);
  }, [toast]);

  const paste = useCallback(() => {
    const clip = clipboard.current;
    if (!clip) return;
    const d0 = docRef.current;
    const rename = new Map<string, string>();
    const taken = new Set<string>();
    const hasTrigger = d0.nodes.some((n) => isTrigger(n.type));
    const nodes = clip.nodes
      .filter((n) => !(isTrigger(n.type) && hasTrigger))
      .map((n) => {
        const id = freshId(d0, n.id.replace(/_\d+$/, ""), taken);
        taken.add(id);
        rename.set(n.id, id);
        const p = n.position ?? display.get(n.id) ?? { x: 0, y: 0 };
        return { ...n, id, position: { x: p.x + 40, y: p.y + 40 } };
      });
    const edges = clip.edges.filter((e) => rename.has(e.from) && rename.has(e.to)).map((e) => ({ ...e, from: rename.get(e.from)!, to: rename.get(e.to)! }));
    edit((d) => {
      let next = d;
      for (const n of nodes) next = addNode(next, n as DslNode, null);
      for (const e of edges) next = addEdge(next, null, e);
      return next;
    });
    setSelected(new Set(nodes.map((n) => n.id)));
    clipboard.current = { nodes: nodes as DslNode[], edges };
  }, [edit, display]);

  // Fit the workflow at a legible zoom (never below MIN_FIT_ZOOM: a long workflow starts at its left).
  const fitLegible = useCallback(
    (duration = 0) => {
      const el = document.querySelector(".wf-canvas .react-flow");
      const top = rf.getNodes().filter((n) => !n.parentId);
      if (!el || !top.length) return;
      const r = el.getBoundingClientRect();
      void rf.setViewport(legibleViewport(rf.getNodesBounds(top), { width: r.width, height: r.height }), { duration });
    },
    [rf],
  );
  const nodesReady = useNodesInitialized();
  const fitted = useRef(false);
  useEffect(() => {
    if (nodesReady && !fitted.current) {
      fitted.current = true;
      fitLegible();
    }
  }, [nodesReady, fitLegible]);
  // A large workflow renders only the visible nodes, so not all are ever measured: fit anyway, soon.
  useEffect(() => {
    const t = setTimeout(() => {
      if (!fitted.current) {
        fitted.current = true;
        fitLegible();
      }
    }, 1000);
    return () => clearTimeout(t);
  }, [fitLegible]);

  const layout = useCallback(() => {
    setOverlap(false);
    edit((d) => setPositions(d, autoLayout(d)));
    setTimeout(() => fitLegible(200), 50);
  }, [edit, fitLegible]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.closest("input, textarea, select, .cm-editor") || t.isContentEditable)) return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === "z") {
        e.preventDefault();
        if (e.shiftKey) doRedo();
        else doUndo();
      } else if (mod && e.key.toLowerCase() === "y") {
        e.preventDefault();
        doRedo();
      } else if (mod && e.key.toLowerCase() === "c") copySelection();
      else if (mod && e.key.toLowerCase() === "s") {
        e.preventDefault();
        void saver.flush().catch(() => {});
      } else if (mod && e.key.toLowerCase() === "a") {
        e.preventDefault();
        setSelected(new Set(indexNodes(docRef.current).keys()));
      } else if (e.key === "Delete" || e.key === "Backspace") {
        e.preventDefault();
        deleteSelection();
      } else if (e.key === "?") {
        setShortcuts((v) => !v);
      } else if (e.key === "Escape") {
        setShortcuts(false);
        setSelected(new Set());
        setSelectedEdges(new Set());
        setMenu(null);
      }
    };
    // Paste: nodes copied in this or another editor tab (the system clipboard), else the in-memory copy.
    const onPaste = (e: ClipboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.closest("input, textarea, select, .cm-editor") || t.isContentEditable)) return;
      try {
        const data = JSON.parse(e.clipboardData?.getData("text/plain") ?? "") as { wasmflow?: string; nodes?: DslNode[]; edges?: DslEdge[] };
        if (data.wasmflow === "nodes" && Array.isArray(data.nodes)) clipboard.current = { nodes: data.nodes, edges: data.edges ?? [] };
      } catch {
        // not ours: paste the in-memory copy, if any
      }
      e.preventDefault();
      paste();
    };
    window.addEventListener("keydown", onKey);
    window.addEventListener("paste", onPaste);
    return () => {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("paste", onPaste);
    };
  }, [doUndo, doRedo, copySelection, paste, deleteSelection, saver]);

  // ---- node edits from the inspector ----
  const updateOne = useCallback((id: string, fn: (n: DslNode) => DslNode, coalesce?: string) => edit((d) => updateNode(d, id, fn), coalesce), [edit]);
  const rename = useCallback(
    (from: string, to: string) => {
      edit((d) => renameNode(d, from, to));
      setSelected(new Set([to]));
      setMocks((m) => {
        if (!(from in m)) return m;
        const { [from]: v, ...rest } = m;
        return { ...rest, [to]: v };
      });
    },
    [edit],
  );
  const setMock = useCallback((id: string, m: Mock | undefined) => {
    setMocks((cur) => {
      const next = { ...cur };
      if (m === undefined) delete next[id];
      else next[id] = m;
      return next;
    });
  }, []);

  // ---- test run (dry run in the tab) ----
  const compileDraft = useCallback(async (): Promise<string | null> => {
    // Saving, then compiling (the first compile after an install may also build the shared runtime, once per
    // toolchain, minutes on a slow machine): the bar says the stage and the seconds so far, ticking.
    const t0 = performance.now();
    const secs = () => (performance.now() - t0) / 1000;
    let stage: "saving" | "compiling" = "saving";
    let runtime: { state?: string; step?: string; elapsed_seconds?: number } | null = null;
    const show = () => setBusy(compileStatusText(stage, secs(), runtime));
    show();
    const ticker = setInterval(() => {
      show();
      if (stage !== "compiling") return;
      fetch("/api/artifacts/runtime-status")
        .then((r) => (r.ok ? r.json() : null))
        .then((st: typeof runtime) => {
          runtime = st;
          if (stage === "compiling") show();
        })
        .catch(() => {});
    }, 1000);
    try {
      await saver.flush();
    } catch (e) {
      clearInterval(ticker);
      setBusy(null);
      toast(String((e as Error).message ?? e), "error");
      return null;
    }
    stage = "compiling";
    show();
    try {
      const c = await api.compile(name);
      setDraftDigest(c.digest);
      return c.digest;
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) {
        setProblemList(e.problems);
        setBottom("problems");
        toast(`Fix ${e.problems.length} problem${e.problems.length > 1 ? "s" : ""} first`, "error");
      } else toast(`Compile failed: ${(e as Error).message}`, "error");
      return null;
    } finally {
      clearInterval(ticker);
      setBusy(null);
    }
  }, [saver, name, toast]);

  const startDry = useCallback(
    async (stopAfter?: string) => {
      if (!canDesign) {
        toast(`A test run ${readOnlyWhy}`, "error");
        return;
      }
      let parsedInput: unknown;
      try {
        parsedInput = input.trim() ? JSON.parse(input) : {};
      } catch (e) {
        toast(`Run input is not JSON: ${(e as Error).message}`, "error");
        setBottom("results");
        return;
      }
      const digest = await compileDraft();
      if (!digest) return;
      dryHandle.current?.cancel();
      const document = docRef.current;
      const decorations = new Map<string, NodeDecoration>();
      const nodes = new Map<string, NodeRunInfo>();
      // agent nodes: their conversation, from the llm.chat and tool calls recorded so far
      const agents = new Set(agentIds(document));
      const calls: RecordedCall[] = [];
      const transcripts = new Map<string, Transcript>();
      const withTranscripts = () => {
        const out = new Map(nodes);
        for (const [id, t] of transcripts) out.set(id, { ...(out.get(id) ?? { status: "running" }), transcript: t });
        return out;
      };
      const docKey = programKey(document);
      const flush = () =>
        setRun({ source: "dry", digest, docKey, calls, label: `Dry run${stopAfter ? ` up to ${stopAfter}` : ""} · ${digest.slice(0, 12)}`, nodes: withTranscripts(), decorations: new Map(decorations) });
      flush();
      setDryResult(null);
      setBottom("results");
      setBusy("Running…");
      let pending = false;
      const schedule = () => {
        if (pending) return;
        pending = true;
        requestAnimationFrame(() => {
          pending = false;
          flush();
        });
      };
      const onEvent = (ev: DryRunEvent) => {
        if (ev.type !== "node") return;
        const status: NodeStatus = ev.status === "started" ? "running" : (ev.status as NodeStatus);
        const prev = nodes.get(ev.node);
        const info: NodeRunInfo = {
          status,
          input: ev.input !== undefined ? ev.input : prev?.input,
          output: ev.output !== undefined ? ev.output : status === "running" ? undefined : prev?.output,
          error: ev.error,
          duration_ms: ev.duration_ms ?? (status === "running" ? undefined : prev?.duration_ms),
          attempts: ev.attempt ?? prev?.attempts,
        };
        nodes.set(ev.node, info);
        decorations.set(ev.node, {
          status,
          duration_ms: info.duration_ms,
          error: ev.error ? ev.error.message : null,
          output: status === "succeeded" ? preview(answerOf(ev.output)) : undefined,
        });
        schedule();
      };
      const { startDryRun } = await import("../dryrun");
      const started = performance.now();
      const handle = startDryRun({
        digest,
        document,
        input: parsedInput,
        mocks,
        stopAfter,
        // "Run up to here" reuses the last dry run's calls: upstream nodes get their recorded answers while
        // the calls still match (an edited node diverges from there on), then the mocks answer.
        replay: stopAfter && dryResult ? dryResult.calls : undefined,
        onEvent,
        onCall: (c) => {
          calls[c.seq - 1] = c;
          if (c.node === null || !agents.has(c.node)) return;
          transcripts.set(c.node, reduceTranscript(stepsFromCalls(calls, c.node)));
          schedule();
        },
        onApproval: (req) => new Promise<ApprovalDecision>((resolve) => setApproval({ req, resolve })),
      });
      dryHandle.current = handle;
      const result = await handle.done;
      if (dryHandle.current === handle) dryHandle.current = null;
      for (const [id, r] of Object.entries(result.nodes)) {
        const status = (r.status === "started" ? "running" : r.status) as NodeStatus;
        nodes.set(id, { status, input: r.input, output: r.output, error: r.error, duration_ms: r.duration_ms, attempts: r.attempts });
        decorations.set(id, { status, duration_ms: r.duration_ms, error: r.error?.message ?? null, output: status === "succeeded" ? preview(answerOf(r.output)) : undefined });
      }
      for (const id of agents) {
        const steps = stepsFromCalls(result.calls, id);
        if (!steps.length) continue;
        const t = reduceTranscript(steps);
        transcripts.set(id, t);
        const deco = decorations.get(id);
        if (deco) decorations.set(id, { ...deco, usage: usageLine(t) });
      }
      calls.splice(0, calls.length, ...result.calls);
      const failing = result.error?.node;
      if (failing && decorations.has(failing)) decorations.set(failing, { ...decorations.get(failing)!, status: "failed" });
      flush();
      setDryResult(result);
      setBusy(null);
      setTestedDigest(digest);
      if (result.status === "succeeded") toast(`Dry run succeeded in ${Math.round(performance.now() - started)} ms`);
      else if (result.status === "stopped") toast(`Stopped after ${stopAfter}`);
      else toast(`Dry run ${result.status}: ${result.error?.message ?? ""}`, "error");
    },
    [input, compileDraft, mocks, dryResult, toast, canDesign, readOnlyWhy],
  );

  const cancelDry = useCallback(() => {
    dryHandle.current?.cancel();
    dryHandle.current = null;
    setBusy(null);
  }, []);

  // ---- deploy ----
  const doDeploy = useCallback(
    async (digest: string) => {
      try {
        setBusy("Deploying…");
        const r = await api.deploy(name, digest, saver.revision);
        setDeployInfo(r);
        refreshDeployed();
        setBottom("deploy");
        toast(r.unchanged ? `Version ${r.version} is already deployed` : `Deployed version ${r.version}`);
      } catch (e) {
        toast(`Deploy failed: ${(e as Error).message}`, "error");
      } finally {
        setBusy(null);
      }
    },
    [name, saver, toast, refreshDeployed],
  );
  const deploy = useCallback(async () => {
    if (!canDesign) return;
    const digest = await compileDraft();
    if (!digest) return;
    if (!testedDigest) {
      setConfirm({ text: "This draft has not been test-run. Deploy it anyway?", ok: "Deploy untested", action: () => void doDeploy(digest) });
    } else if (testedDigest !== digest) {
      setConfirm({
        text: `The draft changed since the last test run (tested ${testedDigest.slice(0, 12)}, now ${digest.slice(0, 12)}). Deploy the current draft anyway?`,
        ok: "Deploy changed draft",
        action: () => void doDeploy(digest),
      });
    } else void doDeploy(digest);
  }, [compileDraft, testedDigest, doDeploy, canDesign]);

  // ---- server run shown on the canvas ----
  const showServerRun = useCallback((view: RunView | null) => setRun(view), []);

  const selectedId = selected.size === 1 ? [...selected][0] : null;
  // The Run tab's node: with what it received (its upstream outputs, the requests it sent), not `{from}`.
  const selectedRunInfo = useMemo(() => {
    const info = selectedId ? run?.nodes.get(selectedId) : undefined;
    if (!info || !run || !selectedId) return undefined;
    return { ...info, received: receivedOf(info.input, (id) => run.nodes.get(id)?.output, callsOf(run.calls, selectedId)) };
  }, [run, selectedId]);
  const stale = !!(testedDigest && draftDigest && testedDigest !== draftDigest);
  const saveLabel =
    saveState === "saved" ? "Saved" : saveState === "saving" ? "Saving…" : saveState === "dirty" ? "Unsaved changes" : saveState === "conflict" ? "Conflict" : "Not saved";
  const nodeCount = indexNodes(doc).size;
  const webhook = doc.nodes.some((n) => n.type === "trigger.webhook");

  return (
    <div className="wf-app">
      <header className="wf-topbar">
        <a href="#/" className="wf-logo" data-testid="link-home" title="All workflows">
          <span className="wf-logo-mark">◆</span> wasmflow
        </a>
        <span className="wf-sep">/</span>
        <input
          className="wf-title-input"
          data-testid="workflow-title"
          value={doc.title ?? ""}
          placeholder={doc.name}
          onChange={(e) => change({ ...doc, title: e.target.value || undefined } as DslDocument, "doc:title")}
          title="Workflow title"
        />
        <span className="wf-name-chip wf-mono" title="workflow name (used by subflow and the API)">
          {doc.name}
        </span>
        {canDesign ? (
          <span className={`wf-save wf-save-${saveState}`} data-testid="save-state" data-state={saveState} title={saveDetail}>
            <span className="wf-save-dot" />
            {saveLabel}
          </span>
        ) : (
          <span className="wf-badge wf-read-only" data-testid="read-only" title={`Read-only: editing, test runs and deploys ${readOnlyWhy}. Changes here are not saved.`}>
            Read-only
          </span>
        )}
        <div className="wf-grow" />
        <div className="wf-btn-group">
          <button className="wf-btn wf-btn-ghost" data-testid="btn-undo" onClick={doUndo} disabled={!canUndo(hist)} title="Undo (Ctrl+Z)">
            ↶
          </button>
          <button className="wf-btn wf-btn-ghost" data-testid="btn-redo" onClick={doRedo} disabled={!canRedo(hist)} title="Redo (Ctrl+Shift+Z)">
            ↷
          </button>
        </div>
        <a href="#/runs" className="wf-btn wf-btn-ghost wf-link-btn" data-testid="link-runs" title="Server runs of all workflows">
          Runs
        </a>
        <button className="wf-btn wf-btn-ghost" data-testid="btn-shortcuts" onClick={() => setShortcuts(true)} title="Keyboard shortcuts (?)">
          ?
        </button>
        {canDesign ? (
        <>
        <button className="wf-btn wf-btn-ghost" data-testid="btn-layout" onClick={layout} title="Auto-layout (dagre)">
          ⇶ Layout
        </button>
        <button className="wf-btn wf-btn-ghost" data-testid="btn-save" onClick={() => void saver.flush().catch((e) => toast(String(e.message ?? e), "error"))} title="Save now (Ctrl+S)">
          Save
        </button>
        {draftDigest ? (
          <button
            className={`wf-digest wf-mono${stale ? " is-stale" : ""}`}
            data-testid="digest"
            data-digest={draftDigest}
            title={`digest ${draftDigest} (click to copy)`}
            onClick={() => {
              void navigator.clipboard?.writeText(draftDigest).catch(() => {});
              toast("Digest copied");
            }}
          >
            # {draftDigest.slice(0, 12)}
          </button>
        ) : (
          <span className="wf-digest wf-digest-none" data-testid="digest" title="the draft is invalid or not compiled yet">
            # —
          </span>
        )}
        {busy === "Running…" ? (
          <button className="wf-btn" data-testid="btn-cancel-run" onClick={cancelDry}>
            ■ Stop
          </button>
        ) : (
          <button className="wf-btn wf-btn-primary" data-testid="btn-test-run" onClick={() => void startDry()} disabled={!!busy}>
            ▶ Test run
          </button>
        )}
        <button className="wf-btn wf-btn-deploy" data-testid="btn-deploy" onClick={() => void deploy()} disabled={!!busy} title={stale ? "the draft changed since the last test run" : "deploy the tested digest"}>
          ⬆ Deploy{stale ? " *" : ""}
        </button>
        </>
        ) : null}
        <UserMenu compact beforeSignOut={() => (canDesign ? saver.flush() : Promise.resolve())} />
      </header>
      {saveState === "conflict" ? (
        <div className="wf-banner wf-banner-warn" data-testid="conflict-banner">
          Someone else saved this workflow meanwhile. Your changes are not saved.
          <button className="wf-btn" data-testid="btn-reload-theirs" onClick={() => void saver.reloadTheirs()}>
            Reload theirs
          </button>
          <button className="wf-btn wf-btn-danger" data-testid="btn-overwrite-mine" onClick={() => void saver.overwriteMine(docRef.current)}>
            Overwrite with mine
          </button>
        </div>
      ) : null}
      {busy && busy !== "Running…" ? <div className="wf-progress" data-testid="busy">{busy}</div> : null}
      <div className="wf-main">
        {!canDesign ? null : panels.palette ? (
          <Palette schema={schema} dndType={DND_TYPE} onAdd={addFromPalette} onCollapse={() => togglePanel("palette")} />
        ) : (
          <div className="wf-rail wf-rail-left" data-testid="palette-collapsed">
            <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-expand-palette" title="Show the palette" onClick={() => togglePanel("palette")}>
              »
            </button>
            <span className="wf-rail-label">Nodes</span>
          </div>
        )}
        <div className="wf-center">
          <div className="wf-canvas" onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
            <ReactFlow
              nodes={flow.nodes}
              edges={flow.edges}
              nodeTypes={nodeTypes}
              edgeTypes={edgeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onNodeDragStart={onNodeDragStart}
              onNodeDragStop={onNodeDragStop}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              nodesConnectable={canDesign}
              onNodeContextMenu={(e, n) => {
                e.preventDefault();
                setSelected(new Set([n.id]));
                setMenu({ x: e.clientX, y: e.clientY, id: n.id });
              }}
              onPaneClick={() => setMenu(null)}
              deleteKeyCode={null}
              selectionKeyCode="Shift"
              multiSelectionKeyCode={["Control", "Meta"]}
              minZoom={0.1}
              maxZoom={2}
              snapToGrid
              snapGrid={[10, 10]}
              proOptions={{ hideAttribution: true }}
              colorMode={dark ? "dark" : "light"}
              defaultEdgeOptions={DEFAULT_EDGE}
              onlyRenderVisibleElements={nodeCount > 150}
            >
              <Background variant={BackgroundVariant.Dots} gap={20} size={1} color={dark ? "#334155" : "#cbd5e1"} />
              <Controls showInteractive={false} position="bottom-left" />
              <MiniMap pannable zoomable position="top-right" style={{ width: 160, height: 110 }} nodeColor={(n) => typeLabel(String((n.data as { node?: DslNode }).node?.type)).color} maskColor={dark ? "rgba(15,23,42,0.7)" : "rgba(241,245,249,0.7)"} />
            </ReactFlow>
            {overlap ? (
              <div className="wf-overlap" data-testid="overlap-hint">
                Some nodes overlap.
                <button className="wf-btn wf-btn-xs wf-btn-primary" data-testid="btn-tidy" onClick={layout}>
                  Tidy up
                </button>
                <button className="wf-btn wf-btn-xs wf-btn-ghost" onClick={() => setOverlap(false)}>
                  ✕
                </button>
              </div>
            ) : null}
            {nodeCount === 0 ? <div className="wf-canvas-empty">Drag a trigger from the palette to start</div> : null}
            {run ? (
              <div className={`wf-run-chip${staleRun ? " is-stale" : ""}`} data-testid="run-overlay" data-stale={staleRun ? "true" : undefined}>
                {run.label}
                {staleRun ? ` · ${STALE_TEXT}` : ""}
                <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-clear-run" onClick={() => setRun(null)}>
                  ✕
                </button>
              </div>
            ) : null}
            {menu ? (
              <NodeMenu at={menu} onClose={() => setMenu(null)}>
                <button data-testid="menu-run-up-to-here" onClick={() => { setMenu(null); void startDry(menu.id); }}>▶ Run up to here</button>
                <button data-testid="menu-copy" onClick={() => { setMenu(null); copySelection(); }}>Copy</button>
                <button data-testid="menu-duplicate" onClick={() => { setMenu(null); copySelection(); paste(); }}>Duplicate</button>
                {!isTrigger(indexNodes(doc).get(menu.id)?.node.type ?? "") && !indexNodes(doc).get(menu.id)?.parent ? (
                  <button
                    data-testid="menu-error-handler"
                    onClick={() => {
                      setMenu(null);
                      const cur = docRef.current.settings?.error_handler;
                      change({ ...docRef.current, settings: { ...(docRef.current.settings ?? {}), error_handler: cur === menu.id ? null : menu.id } });
                    }}
                  >
                    {doc.settings?.error_handler === menu.id ? "Unset error handler" : "Use as error handler"}
                  </button>
                ) : null}
                <button data-testid="menu-delete" onClick={() => { setMenu(null); deleteSelection(); }}>Delete</button>
              </NodeMenu>
            ) : null}
            {quickAdd ? <QuickAdd at={quickAdd} schema={schema} onPick={addConnected} onClose={() => setQuickAdd(null)} /> : null}
            <Toasts toasts={toasts} inCanvas />
          </div>
          <BottomPanel
            tab={bottom}
            setTab={setBottom}
            name={name}
            problems={problems}
            onSelectNode={(id) => {
              setSelected(new Set([id]));
              const n = rf.getInternalNode(id);
              if (n) rf.setCenter(n.internals.positionAbsolute.x + 110, n.internals.positionAbsolute.y + 30, { zoom: rf.getZoom(), duration: 200 });
            }}
            selectedId={selectedId}
            input={input}
            setInput={setInput}
            webhook={webhook}
            dryResult={dryResult}
            run={run}
            stale={staleRun}
            deployInfo={deployInfo}
            showServerRun={showServerRun}
            openRun={openRun}
            deployed={deployed}
            setMocks={(m) => {
              setMocks(m);
              toast(`Mocks set for ${Object.keys(m).length} node${Object.keys(m).length === 1 ? "" : "s"}`);
            }}
            toast={toast}
          />
        </div>
        {panels.inspector ? (
        <aside className="wf-right">
          <div className="wf-panel-bar wf-panel-bar-right">
            <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-collapse-inspector" title="Hide the inspector" onClick={() => togglePanel("inspector")}>
              »
            </button>
          </div>
          <Inspector
            runStale={staleRun && !!selectedRunInfo}
            doc={doc}
            schema={schema}
            selectedId={selectedId}
            problems={problems}
            change={change}
            updateNode={updateOne}
            rename={rename}
            runInfo={selectedRunInfo}
            deco={selectedId ? run?.decorations.get(selectedId) : undefined}
            runSource={run?.label ?? null}
            mock={selectedId ? mocks[selectedId] : undefined}
            setMock={setMock}
            runUpTo={(id) => void startDry(id)}
            busy={!!busy}
          />
        </aside>
        ) : (
          <div className="wf-rail wf-rail-right" data-testid="inspector-collapsed">
            <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-expand-inspector" title="Show the inspector" onClick={() => togglePanel("inspector")}>
              «
            </button>
            <span className="wf-rail-label">Inspector</span>
          </div>
        )}
      </div>
      {approval ? (
        <ApprovalModal
          req={approval.req}
          onDecide={(d) => {
            approval.resolve(d);
            setApproval(null);
          }}
        />
      ) : null}
      {confirm ? (
        <div className="wf-modal-back">
          <div className="wf-modal" data-testid="confirm-modal">
            <p>{confirm.text}</p>
            <div className="wf-modal-actions">
              <button className="wf-btn" data-testid="btn-confirm-cancel" onClick={() => setConfirm(null)}>
                Cancel
              </button>
              <button className="wf-btn wf-btn-primary" data-testid="btn-confirm-ok" onClick={() => { const a = confirm.action; setConfirm(null); a(); }}>
                {confirm.ok}
              </button>
            </div>
          </div>
        </div>
      ) : null}
      {shortcuts ? <ShortcutSheet onClose={() => setShortcuts(false)} /> : null}
    </div>
  );
}

/** Whether the system asks for dark colours (followed live, as the stylesheet's media query is). */
function useSystemDark(): boolean {
  const q = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  const [dark, setDark] = useState(() => !!q?.matches);
  useEffect(() => {
    if (!q) return;
    const on = (e: MediaQueryListEvent) => setDark(e.matches);
    q.addEventListener("change", on);
    return () => q.removeEventListener("change", on);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return dark;
}

const SHORTCUTS: [string, string][] = [
  ["?", "show or hide this sheet"],
  ["Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y)", "undo / redo"],
  ["Ctrl+S", "save now"],
  ["Ctrl+C / Ctrl+V", "copy / paste nodes (also between tabs)"],
  ["Ctrl+A", "select every node"],
  ["Delete / Backspace", "delete the selection"],
  ["Ctrl+click, Shift+drag", "add to the selection, select an area"],
  ["Escape", "clear the selection, close menus"],
  ["drag from an output to empty canvas", "add a connected node"],
  ["right-click a node", "run up to here, duplicate, error handler, delete"],
];

function ShortcutSheet({ onClose }: { onClose: () => void }) {
  return (
    <div className="wf-modal-back" onClick={onClose}>
      <div className="wf-modal wf-shortcuts" data-testid="shortcut-sheet" onClick={(e) => e.stopPropagation()}>
        <h3>Keyboard shortcuts</h3>
        <table className="wf-table">
          <tbody>
            {SHORTCUTS.map(([k, what]) => (
              <tr key={k}>
                <td><kbd className="wf-kbd">{k}</kbd></td>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="wf-modal-actions">
          <button className="wf-btn" data-testid="btn-shortcuts-close" onClick={onClose}>Close</button>
        </div>
      </div>
    </div>
  );
}

const EMPTY_DECO = new Map<string, NodeDecoration>();
const DEFAULT_EDGE = { type: "wf" };

export { clampToViewport };

/** A menu opened at `at` (client coordinates), moved so that all of it is inside the window: measured once
 * when it opens (with all its items, its tallest), so typing in it does not move it. */
function useOnScreen(ref: React.RefObject<HTMLDivElement | null>, at: { x: number; y: number }): { x: number; y: number } {
  const [pos, setPos] = useState(at);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const r = el.getBoundingClientRect();
    setPos(clampToViewport(at.x, at.y, r.width, r.height, window.innerWidth, window.innerHeight));
  }, [ref, at]);
  return pos;
}

/** The right-click menu of a node, kept on screen. */
function NodeMenu({ at, onClose, children }: { at: { x: number; y: number }; onClose: () => void; children: React.ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const pos = useOnScreen(ref, at);
  return (
    <div ref={ref} className="wf-menu" style={{ left: pos.x, top: pos.y }} data-testid="context-menu" onMouseLeave={onClose}>
      {children}
    </div>
  );
}

/** The node picker shown where a connection from an output was dropped on empty canvas (kept on screen). */
function QuickAdd({ at, schema, onPick, onClose }: { at: { x: number; y: number }; schema: DslSchema; onPick: (type: string) => void; onClose: () => void }) {
  const [q, setQ] = useState("");
  const types = searchTypes(schema.types.filter((t) => !isTrigger(t.type)), q);
  const ref = useRef<HTMLDivElement>(null);
  const pos = useOnScreen(ref, at);
  // Closed by Escape or a press elsewhere (not by the pointer leaving it: a clamped menu is not under it).
  useEffect(() => {
    const away = (e: PointerEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) onClose();
    };
    window.addEventListener("pointerdown", away, true);
    return () => window.removeEventListener("pointerdown", away, true);
  }, [onClose]);
  return (
    <div ref={ref} className="wf-menu wf-quickadd" style={{ left: pos.x, top: pos.y }} data-testid="quick-add">
      <input
        autoFocus
        className="wf-input"
        placeholder="Add and connect…"
        value={q}
        data-testid="quick-add-search"
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") onClose();
          if (e.key === "Enter" && types[0]) onPick(types[0].type);
        }}
      />
      {types.map((t) => (
        <button key={t.type} data-testid={`quick-add-${t.type}`} onClick={() => onPick(t.type)}>
          <span style={{ color: typeLabel(t.type).color, width: 18, display: "inline-block" }}>{typeLabel(t.type).icon}</span> {typeLabel(t.type).label}
        </button>
      ))}
    </div>
  );
}

export function ApprovalModal({ req, onDecide }: { req: { node: string; title: string; details?: string }; onDecide: (d: ApprovalDecision) => void }) {
  const [reason, setReason] = useState("");
  return (
    <div className="wf-modal-back">
      <div className="wf-modal" data-testid="approval-modal">
        <div className="wf-modal-kicker">Dry run · approval at <span className="wf-mono">{req.node}</span></div>
        <h3 data-testid="approval-title">{req.title}</h3>
        {req.details ? <p className="wf-muted">{req.details}</p> : null}
        <textarea className="wf-input" rows={2} placeholder="reason (optional)" data-testid="approval-reason" value={reason} onChange={(e) => setReason(e.target.value)} />
        <div className="wf-modal-actions">
          <button className="wf-btn wf-btn-danger" data-testid="btn-approval-reject" onClick={() => onDecide({ approved: false, reason, by: "editor" })}>
            Reject
          </button>
          <button className="wf-btn wf-btn-primary" data-testid="btn-approval-approve" onClick={() => onDecide({ approved: true, reason, by: "editor" })}>
            Approve
          </button>
        </div>
      </div>
    </div>
  );
}

