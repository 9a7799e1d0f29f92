"""Expressions, templates and code blocks: split, parse with ``ast`` and find free names. Never evaluates.

The compiler reuses ``split_template`` so the editor, validator and generated code agree on where each
``{{ expression }}`` starts and ends.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from app import pyast

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


class TemplateError(ValueError):
    """A template whose ``{{`` has no matching ``}}``; ``offset`` is the 0-based index of the ``{{``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Part:
    kind: str  # "text" | "expr"
    text: str  # literal text, or the expression source without surrounding whitespace
    offset: int  # 0-based index in the template of the text, or of the expression's first character


def _skip_string(s: str, i: int) -> int:
    """Index just past the Python string literal starting at ``s[i]`` (a quote), or len(s) if unterminated."""
    quote = s[i]
    triple = s.startswith(quote * 3, i)
    end_token = quote * 3 if triple else quote
    j = i + len(end_token)
    n = len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if s.startswith(end_token, j):
            return j + len(end_token)
        if c == "\n" and not triple:
            return j
        j += 1
    return n


def _expression_end(s: str, start: int) -> int:
    """Index of the ``}}`` that closes an expression starting at ``start``, honouring brackets and strings."""
    depth: list[str] = []
    i, n = start, len(s)
    while i < n:
        c = s[i]
        if c in "'\"":
            i = _skip_string(s, i)
            continue
        if c in _OPEN:
            depth.append(_OPEN[c])
        elif c in _CLOSE:
            if depth and depth[-1] == c:
                depth.pop()
            elif c == "}" and not depth and s.startswith("}}", i):
                return i
        i += 1
    return -1


def template_parts(s: str) -> list[Part]:
    """Split a template into literal text and ``{{ expression }}`` parts, with offsets; raises TemplateError."""
    parts: list[Part] = []
    pos = 0
    while True:
        start = s.find("{{", pos)
        if start < 0:
            if pos < len(s):
                parts.append(Part("text", s[pos:], pos))
            return parts
        if start > pos:
            parts.append(Part("text", s[pos:start], pos))
        end = _expression_end(s, start + 2)
        if end < 0:  # unbalanced brackets inside: take the first "}}" so the parser can say what is wrong
            end = s.find("}}", start + 2)
        if end < 0:
            raise TemplateError(f"'{{{{' at column {start + 1} has no matching '}}}}'", start)
        inner = s[start + 2 : end]
        stripped = inner.strip()
        if not stripped:
            raise TemplateError(f"'{{{{ }}}}' at column {start + 1} is empty", start)
        lead = len(inner) - len(inner.lstrip())
        parts.append(Part("expr", stripped, start + 2 + lead))
        pos = end + 2


def split_template(s: str) -> list[tuple[str, str]]:
    """``[("text", literal) | ("expr", source), ...]`` for a template string; raises TemplateError."""
    return [(p.kind, p.text) for p in template_parts(s)]


def single_expression(s: str) -> str | None:
    """The expression source when the whole template is one ``{{ expr }}`` (its value is used unchanged)."""
    parts = [p for p in template_parts(s) if not (p.kind == "text" and not p.text.strip())]
    if len(parts) == 1 and parts[0].kind == "expr":
        return parts[0].text
    return None


class ParseError(ValueError):
    """Why a piece of user text does not parse; ``line``/``column`` are 1-based in that text."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line, self.column = line, column


def _parse(source: str, mode: str) -> ast.AST:
    try:
        return pyast.parse(source, mode=mode)
    except SyntaxError as err:
        line = err.lineno or 1
        message = err.msg or "invalid syntax"
        if not err.offset:  # eval mode reports offset 0 when the input ends too early
            lines = source.splitlines() or [""]
            line = min(line, len(lines))
            column = len(lines[line - 1]) + 1
            message += " (the text ends too early)"
        else:
            column = err.offset
        raise ParseError(message, line, column) from None
    except (RecursionError, MemoryError):
        raise ParseError("too deeply nested to parse", 1, 1) from None
    except ValueError as err:  # e.g. null bytes on some Python versions
        raise ParseError(str(err), 1, 1) from None


def parse_expression(source: str) -> ast.Expression:
    """Parse one Python expression (leading whitespace allowed); raises ParseError."""
    stripped = source.lstrip()
    lead = len(source) - len(stripped)
    try:
        tree = _parse(stripped, "eval")
    except ParseError as err:
        if err.line == 1:
            err.column += lead
        raise
    assert isinstance(tree, ast.Expression)
    return tree


def parse_code(source: str) -> ast.Module:
    """Parse a code block: statements forming a function body (``return`` gives the output)."""
    tree = _parse(source, "exec")
    assert isinstance(tree, ast.Module)
    return tree


# --- free names ---------------------------------------------------------------------------------------

_FUNCTION_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _Scope:
    __slots__ = ("bound", "parent", "is_comprehension")

    def __init__(self, parent: _Scope | None, *, is_comprehension: bool = False) -> None:
        self.bound: set[str] = set()
        self.parent = parent
        self.is_comprehension = is_comprehension

    def binds(self, name: str) -> bool:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.bound:
                return True
            scope = scope.parent
        return False

    def function_scope(self) -> _Scope:
        scope = self
        while scope.is_comprehension and scope.parent is not None:
            scope = scope.parent
        return scope


def _bind_args(args: ast.arguments, scope: _Scope) -> None:
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            scope.bound.add(a.arg)


def free_names(tree: ast.AST) -> dict[str, tuple[int, int]]:
    """Names read but not bound inside ``tree``, each with its first (line, column), 1-based.

    Scoping follows Python: a name assigned anywhere in a function (or the top level of a code block,
    which is a function body) is local to it; comprehensions and lambdas bind their own targets.
    Iterative, so deep trees cannot overflow the stack.
    """
    root = _Scope(None)
    loads: list[tuple[ast.Name, _Scope]] = []
    stack: list[tuple[ast.AST, _Scope]] = [(tree, root)]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loads.append((node, scope))
            else:
                scope.bound.add(node.id)
            continue
        if isinstance(node, _FUNCTION_SCOPES):
            inner = _Scope(scope)
            _bind_args(node.args, inner)
            outer_parts: list[ast.AST] = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
            if isinstance(node, ast.Lambda):
                body: list[ast.AST] = [node.body]
            else:
                scope.bound.add(node.name)
                outer_parts += node.decorator_list
                body = list(node.body)
            stack.extend((p, scope) for p in outer_parts)
            stack.extend((b, inner) for b in body)
            continue
        if isinstance(node, _COMPREHENSIONS):
            inner = _Scope(scope, is_comprehension=True)
            gens = node.generators
            stack.append((gens[0].iter, scope))
            for i, gen in enumerate(gens):
                stack.append((gen.target, inner))
                if i:
                    stack.append((gen.iter, inner))
                stack.extend((cond, inner) for cond in gen.ifs)
            if isinstance(node, ast.DictComp):
                stack.extend([(node.key, inner), (node.value, inner)])
            else:
                stack.append((node.elt, inner))
            continue
        if isinstance(node, ast.ClassDef):
            scope.bound.add(node.name)
            inner = _Scope(scope)
            stack.extend((p, scope) for p in [*node.bases, *node.keywords, *node.decorator_list])
            stack.extend((b, inner) for b in node.body)
            continue
        if isinstance(node, ast.NamedExpr):
            scope.function_scope().bound.add(node.target.id)
            stack.append((node.value, scope))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                scope.bound.add(alias.asname or alias.name.split(".")[0])
            continue
        if isinstance(node, ast.Global | ast.Nonlocal):
            scope.bound.update(node.names)
            continue
        if isinstance(node, ast.ExceptHandler) and node.name:
            scope.bound.add(node.name)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            scope.bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            scope.bound.add(node.rest)
        stack.extend((child, scope) for child in ast.iter_child_nodes(node))
    found: dict[str, tuple[int, int]] = {}
    for name, scope in loads:
        if not scope.binds(name.id):
            where = (name.lineno, name.col_offset + 1)
            if name.id not in found or where < found[name.id]:
                found[name.id] = where
    return found
