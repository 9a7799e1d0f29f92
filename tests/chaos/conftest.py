"""The chaos suite's compiled workflows, once per session (through the test cache like every other test)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def chaos_toolchain(compiler):
    from chaos.driver import compile_workflows

    return compile_workflows(compiler)
