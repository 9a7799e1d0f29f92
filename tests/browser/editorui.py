"""Driving the editor in Playwright: selectors by test id, screenshots, drag and drop, connections, code fields
(the test ids are listed in editor/README.md)."""

from __future__ import annotations

from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"  # beside the fixtures' screenshots


def tid(name: str) -> str:
    """A selector for a data-testid (ids may contain dots and slashes)."""
    return f'[data-testid="{name}"]'


def shot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"))


def drop(page, node_type: str, x: int, y: int) -> None:
    """Real HTML5 drag and drop from the palette onto the canvas pane at (x, y) of the pane."""
    page.drag_and_drop(tid(f"palette-{node_type}"), ".react-flow__pane", target_position={"x": x, "y": y})


def connect(page, source_handle: str, target_handle: str) -> None:
    """Press on a node's output handle, move in steps to another node's input handle, release."""
    a = page.locator(tid(source_handle)).bounding_box()
    b = page.locator(tid(target_handle)).bounding_box()
    assert a and b, (source_handle, target_handle)
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def type_code(page, pointer: str, text: str) -> None:
    """Replace the text of a CodeMirror field (expressions, templates) by typing, as a user does."""
    content = page.locator(f"{tid('field-' + pointer)} .cm-content")
    content.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)


def wait_saved(page) -> None:
    page.wait_for_selector(f'{tid("save-state")}[data-state="saved"]', timeout=30_000)
