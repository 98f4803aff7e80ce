"""docs/traceability.md maps each SEC obligation to the code and the tests that prove it. This
test keeps the page honest: every test it names exists, every code reference resolves, and
every obligation outside the "not built yet" section names at least one test."""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

from django.conf import settings

DOC = Path(settings.BASE_DIR) / "docs" / "traceability.md"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
CODE_REF = re.compile(r"`((?:portal|cpl|governance)(?:\.\w+)+):(\w+(?:\.\w+)*)`")
NOT_BUILT = "## Not built yet"


@cache
def _tests_in(path: str) -> frozenset[str]:
    """Test functions of a module, as `name` and `Class::name`."""
    tree = ast.parse((Path(settings.BASE_DIR) / path).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return frozenset(name for name in names if name.split("::")[-1].startswith("test"))


def _obligation_rows() -> list[tuple[str, str]]:
    """(obligation, row) for every table row before the "not built yet" section."""
    built = DOC.read_text().split(NOT_BUILT)[0]
    rows = []
    for line in built.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        is_row = line.startswith("|") and len(cells) >= 4
        if (
            is_row
            and not set(cells[0]) <= {"-", " ", ":"}
            and cells[0].lower() not in {"obligation", "rule"}
        ):
            rows.append((cells[0], line))
    return rows


def test_every_named_test_exists():
    text = DOC.read_text()
    named = TEST_REF.findall(text)
    assert named, "the page names no test"
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (Path(settings.BASE_DIR) / path).exists() or name not in _tests_in(path)
    ]
    assert not missing, f"docs/traceability.md names tests that do not exist: {missing}"


def test_every_code_reference_resolves():
    text = DOC.read_text()
    refs = CODE_REF.findall(text)
    assert refs, "the page names no code"
    unresolved = []
    for module_name, attribute in refs:
        try:
            target = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError):
            unresolved.append(f"{module_name}:{attribute}")
    assert not unresolved, f"docs/traceability.md names code that does not exist: {unresolved}"


def test_every_built_obligation_names_code_and_a_test():
    rows = _obligation_rows()
    assert len(rows) >= 7, "the page lists fewer obligations than the SEC texts it must trace"
    for obligation, row in rows:
        assert TEST_REF.search(row), f"{obligation}: no test named"
        assert CODE_REF.search(row), f"{obligation}: no code named"
