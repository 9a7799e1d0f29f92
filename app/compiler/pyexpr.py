"""User Python text as the compiler sees it: parsed with ``ast`` (never evaluated), checked, and re-emitted
as canonical source for the generated guest module. Templates are split into literal and expression parts.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from app import dsl, pyast
from app.errors import UserError

_NO_SUSPEND = (ast.Yield, ast.YieldFrom, ast.Await)
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


class CodegenError(UserError):
    """A workflow document the code generator cannot turn into a guest module; names the node and field."""

    code = "codegen_failed"
    http_status = 422

    def __init__(self, message: str, *, node: str | None = None, field: str | None = None):
        where = f"node {node!r}" if node else "workflow"
        if field:
            where += f", {field}"
        super().__init__(f"{where}: {message}", details={"node": node, "field": field})


@dataclass(frozen=True)
class Expr:
    """A parsed expression: canonical source (``ast.unparse``) and the names it mentions."""

    source: str
    names: frozenset[str]


def _names(tree: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


def parse_expr(text: str, *, node: str | None = None, field: str | None = None) -> Expr:
    """Parse one expression (mode="eval"); CodegenError on a syntax error or a yield/await."""
    if not isinstance(text, str):
        raise CodegenError(f"expected an expression string, got {type(text).__name__}", node=node, field=field)
    try:
        tree = pyast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise CodegenError(f"invalid expression: {exc.msg} (column {exc.offset})", node=node, field=field) from None
    if any(isinstance(n, _NO_SUSPEND) for n in ast.walk(tree)):
        raise CodegenError("yield/await are not allowed in expressions", node=node, field=field)
    return Expr(ast.unparse(tree), _names(tree))


@dataclass(frozen=True)
class CodeBlock:
    """A transform code block: canonical statements (``ast.unparse``) and the names it mentions."""

    source: str
    names: frozenset[str]
    imports: tuple[str, ...] = ()  # absolute modules it imports: preloaded at build time (no files at run time)


def _imports(tree: ast.AST) -> tuple[str, ...]:
    found = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            found.update(alias.name for alias in n.names)
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            found.add(n.module)
    return tuple(sorted(found))


def _suspends(tree: ast.AST) -> bool:
    return _top_level(tree, _NO_SUSPEND)


def _top_level(tree: ast.AST, kinds: tuple) -> bool:
    """Whether a node of ``kinds`` occurs in ``tree`` outside nested functions, lambdas and classes."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        n = stack.pop()
        if isinstance(n, kinds):
            return True
        if not isinstance(n, _NESTED_SCOPES):
            stack.extend(ast.iter_child_nodes(n))
    return False


def parse_code(text: str, *, node: str | None = None, field: str | None = None) -> CodeBlock:
    """Parse a code block (a function body whose ``return`` is the output)."""
    if not isinstance(text, str):
        raise CodegenError(f"expected code, got {type(text).__name__}", node=node, field=field)
    try:
        tree = pyast.parse(text)
    except SyntaxError as exc:
        raise CodegenError(
            f"invalid code: {exc.msg} (line {exc.lineno}, column {exc.offset})", node=node, field=field
        ) from None
    if _suspends(tree):
        raise CodegenError("yield/await are not allowed in a code block", node=node, field=field)
    if _top_level(tree, (ast.Global, ast.Nonlocal)):
        raise CodegenError("global/nonlocal are not allowed in a code block", node=node, field=field)
    if not tree.body:
        return CodeBlock("return None", frozenset())
    return CodeBlock(ast.unparse(tree), _names(tree), _imports(tree))


def split_template(text: str, *, node: str | None = None, field: str | None = None) -> list:
    """Split a template into parts: str for literal text, Expr for each ``{{ expr }}``.

    The splitting itself is the DSL's (``app.dsl.split_template``), so the validator and the generated code
    always agree on where an expression ends.
    """
    if not isinstance(text, str):
        raise CodegenError(f"expected a template string, got {type(text).__name__}", node=node, field=field)
    try:
        parts = dsl.split_template(text)
    except dsl.TemplateError as exc:
        raise CodegenError(f"invalid template: {exc}", node=node, field=field) from None
    return [parse_expr(src, node=node, field=field) if kind == "expr" else src for kind, src in parts]


def template_code(text: str, *, as_text: bool = True, node: str | None = None, field: str | None = None):
    """Python source rendering a template, and the names it mentions.

    A template that is exactly one ``{{ expr }}`` keeps the value (``as_text`` wraps it in ``_rt.text``
    when the wire needs a string); otherwise the parts are joined by ``_rt.concat``.
    """
    parts = split_template(text, node=node, field=field)
    names = frozenset().union(*(p.names for p in parts if isinstance(p, Expr)))
    if not any(isinstance(p, Expr) for p in parts):
        return repr(text), names
    if len(parts) == 1 or (
        len([p for p in parts if isinstance(p, Expr)]) == 1 and all(isinstance(p, Expr) or not p.strip() for p in parts)
    ):
        (expr,) = [p for p in parts if isinstance(p, Expr)]
        return (f"_rt.text({expr.source})" if as_text else expr.source), names
    args = ", ".join(repr(p) if isinstance(p, str) else p.source for p in parts)
    return f"_rt.concat({args})", names
