"""Templates split the same way everywhere; free names follow Python scoping; nothing is evaluated."""

from __future__ import annotations

import pytest

from app.dsl import expressions as ex
from app.dsl.checks import parse_text


@pytest.mark.parametrize(
    ("template", "parts"),
    [
        ("plain", [("text", "plain")]),
        ("", []),
        ("{{ a }}", [("expr", "a")]),
        ("  {{ a }}  ", [("text", "  "), ("expr", "a"), ("text", "  ")]),
        ("x={{a}}&y={{ b['c'] }}", [("text", "x="), ("expr", "a"), ("text", "&y="), ("expr", "b['c']")]),
        ("{{ {'a': {'b': 1}} }}", [("expr", "{'a': {'b': 1}}")]),
        ("{{ '}}' + x }}!", [("expr", "'}}' + x"), ("text", "!")]),
        ("{{ f'{x}' }}", [("expr", "f'{x}'")]),
        ("a }} b", [("text", "a }} b")]),
    ],
)
def test_split_template(template: str, parts: list[tuple[str, str]]) -> None:
    assert ex.split_template(template) == parts


def test_split_template_errors() -> None:
    with pytest.raises(ex.TemplateError) as info:
        ex.split_template("abc {{ x")
    assert info.value.offset == 4
    with pytest.raises(ex.TemplateError):
        ex.split_template("{{  }}")


def test_single_expression() -> None:
    assert ex.single_expression("  {{ fetch['body'] }} ") == "fetch['body']"
    assert ex.single_expression("id={{ x }}") is None
    assert ex.single_expression("text") is None


def names(source: str, kind: str = "expression") -> set[str]:
    found, error = parse_text(kind, source)
    assert error is None, error
    return set(found)


def test_free_names_respect_python_scoping() -> None:
    assert names("a + b['c'] + len(d)") == {"a", "b", "len", "d"}
    assert names("[x * k for x in xs if x > lim]") == {"k", "xs", "lim"}
    assert names("{k: v for k, v in d.items()}") == {"d"}
    assert names("(lambda q, *r, s=t: q + u)(1)") == {"t", "u"}
    assert names("[y := f(1), y]") == {"f"}
    assert names("[[i + j for j in row] for i, row in enumerate(m)]") == {"enumerate", "m"}


def test_free_names_in_code_blocks() -> None:
    code = """
import math as m
total = 0
for row in rows:
    total += m.floor(row['x'])
def helper(v, w=default):
    return v + w + total + outer
try:
    pass
except ValueError as err:
    print(err)
match total:
    case {'k': kv, **rest}:
        pass
    case [first, *others]:
        pass
return helper(total)
"""
    assert names(code, "code") == {"rows", "default", "outer", "ValueError", "print"}


def test_template_names() -> None:
    assert names("https://x.example.com/{{ a['id'] }}?q={{ [i for i in b] }}", "template") == {"a", "b"}


def test_syntax_error_columns() -> None:
    _, error = parse_text("expression", "fetch['body'] +")
    assert error == "invalid expression at column 16: invalid syntax (the text ends too early)"
    _, error = parse_text("template", "id={{ a b }}")
    assert error is not None and "column 9" in error
    _, error = parse_text("code", "x = 1\nif x\n  return 2")
    assert error is not None and error.startswith("invalid Python code at line 2, column 5")


def test_pathological_expressions_do_not_crash() -> None:
    for source in ["(" * 500 + ")" * 500, "1" + "+1" * 100_000, "a\x00b", "\ud800", "lambda: (yield)"]:
        found, error = parse_text("expression", source)
        assert isinstance(found, dict)
        assert error is None or isinstance(error, str)


def test_no_eval_in_the_dsl_package() -> None:
    """Contract 4: the host parses user text, never runs it (no builtin eval/exec/compile calls)."""
    import ast
    from pathlib import Path

    import app.dsl

    for path in Path(app.dsl.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile"), f"{node.func.id}() in {path.name}"
