"""docs/state-machines.md is generated from the models and their policies: it may not go stale."""

import difflib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.management.commands.state_machines import DOC_PATH, REGENERATE, render


def test_state_machines_doc_is_current():
    expected = render()
    current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "docs/state-machines.md (committed)",
                "docs/state-machines.md (from the models)",
                n=1,
            )
        )
        pytest.fail(
            f"docs/state-machines.md is stale: run `{REGENERATE}` and commit it.\n{diff[:4000]}",
            pytrace=False,
        )


def test_check_option_agrees(tmp_path, monkeypatch):
    """`--check` passes on the committed page and fails, naming the command, on a stale one."""
    call_command("state_machines", "--check")

    from governance.management.commands import state_machines

    stale = tmp_path / "state-machines.md"
    stale.write_text("# State machines\n", encoding="utf-8")
    monkeypatch.setattr(state_machines, "DOC_PATH", stale)
    with pytest.raises(CommandError, match="run `python manage.py state_machines`"):
        call_command("state_machines", "--check")
    assert stale.read_text(encoding="utf-8") == "# State machines\n"  # --check writes nothing
