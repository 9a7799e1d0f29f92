// CodeMirror 6 for expressions, templates and code: Python highlighting, completion of the names in scope
// (upstream node ids, input, item/index in map bodies, error after the error handler). Inside
// <CodeReadOnly.Provider value={true}> (the inspector below the editor role) the text cannot be changed.
import { autocompletion, type CompletionContext } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, keymap, placeholder as cmPlaceholder } from "@codemirror/view";
import { createContext, memo, useContext, useEffect, useRef } from "react";

export interface ScopeName {
  name: string;
  detail: string;
}

interface Props {
  value: string;
  onChange: (v: string) => void;
  kind: "expression" | "template" | "code";
  scope: ScopeName[];
  testId: string;
  invalid?: boolean;
  placeholder?: string;
}

/** true: the code fields below are read-only (a role that may not edit the workflow). */
export const CodeReadOnly = createContext(false);

const lock = (readOnly: boolean) => [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)];

const theme = EditorView.theme({
  "&": { fontSize: "12px", background: "#fff" },
  ".cm-content": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", padding: "4px 0" },
  ".cm-scroller": { maxHeight: "260px", overflow: "auto" },
  "&.cm-focused": { outline: "none" },
});

function CodeFieldImpl({ value, onChange, kind, scope, testId, invalid, placeholder }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  const scopeRef = useRef(scope);
  const readOnly = useContext(CodeReadOnly);
  const readOnlyRef = useRef(readOnly);
  const locked = useRef(new Compartment());
  onChangeRef.current = onChange;
  scopeRef.current = scope;

  useEffect(() => {
    const complete = (ctx: CompletionContext) => {
      const word = ctx.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
      if (!word && !ctx.explicit) return null;
      return {
        from: word ? word.from : ctx.pos,
        options: scopeRef.current.map((s) => ({ label: s.name, detail: s.detail, type: "variable" })),
      };
    };
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          history(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          python(),
          syntaxHighlighting(defaultHighlightStyle),
          bracketMatching(),
          autocompletion({ override: [complete] }),
          kind === "code" ? [] : EditorView.lineWrapping,
          cmPlaceholder(placeholder ?? (kind === "template" ? "text with {{ expression }} parts" : kind === "code" ? "return ..." : "python expression")),
          theme,
          locked.current.of(lock(readOnlyRef.current)),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [kind]);

  useEffect(() => {
    readOnlyRef.current = readOnly;
    view.current?.dispatch({ effects: locked.current.reconfigure(lock(readOnly)) });
  }, [readOnly]);

  // Outside changes (undo, reload) replace the text; typing round-trips through props and is skipped here.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  return <div ref={host} className={`wf-code wf-code-${kind}${invalid ? " wf-invalid" : ""}${readOnly ? " is-readonly" : ""}`} data-testid={testId} data-kind={kind} />;
}

export const CodeField = memo(CodeFieldImpl);
