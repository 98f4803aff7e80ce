"""Write `docs/state-machines.md` from the models themselves: every model with a django-fsm
field, its states, its transitions and who may take each one (the transition's permission, read
through the model's permission policy). Lives in governance because it reads every app's models.

`--check` writes nothing and fails when the file differs from what would be written (the test
suite runs it, so the page cannot drift from the code).
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_fsm import ANY_OTHER_STATE, ANY_STATE, FSMFieldMixin

from portal.policies import policy_for

DOC_PATH = Path(settings.BASE_DIR) / "docs" / "state-machines.md"
REGENERATE = "python manage.py state_machines"


# --- reading the machines ----------------------------------------------------------------------


def fsm_machines() -> list[tuple[type, FSMFieldMixin]]:
    """Every (model, FSM field) of the installed apps, sorted by model label then field."""
    found = [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, FSMFieldMixin) and field.model is model
    ]
    return sorted(found, key=lambda mf: (mf[0]._meta.label, mf[1].name))


def policy_or_none(model):
    try:
        return policy_for(model)
    except KeyError:
        return None


def transitions_by_method(model, field) -> dict[str, list]:
    """Transition name -> its django_fsm Transition objects, one per source state."""
    grouped: dict[str, list] = {}
    for transition in field.get_all_transitions(model):
        grouped.setdefault(transition.name, []).append(transition)
    return grouped


def state_order(field) -> dict[str, int]:
    return {str(value): index for index, (value, _label) in enumerate(field.choices or [])}


def initial_state(field) -> str | None:
    if not field.has_default():
        return None
    default = field.get_default()
    return None if default in (None, "") else str(default)


def ordered_transitions(model, field) -> list[tuple[str, list]]:
    """In lifecycle order: by the earliest source state, then the target, then the name."""
    order = state_order(field)
    last = len(order)

    def key(item):
        name, transitions = item
        sources = [order.get(str(t.source), last) for t in transitions]
        return (min(sources), order.get(str(transitions[0].target), last), name)

    return sorted(transitions_by_method(model, field).items(), key=key)


def state_text(value) -> str:
    if value == ANY_STATE:
        return "any state"
    if value == ANY_OTHER_STATE:
        return "any other state"
    if value is None:
        return "(unchanged)"
    return f"`{value}`"


# --- describing conditions and permissions -----------------------------------------------------


@cache
def _module_tree(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"))


def condition_text(condition) -> str:
    """A named condition by its name (and docstring); a lambda by its own source text."""
    name = getattr(condition, "__name__", repr(condition))
    if name != "<lambda>":
        doc = " ".join((condition.__doc__ or "").split())
        return f"`{name}`" + (f" ({doc})" if doc else "")
    code = condition.__code__
    try:
        path = inspect.getsourcefile(condition)
        source = Path(path).read_text(encoding="utf-8")
        lambdas = [
            node
            for node in ast.walk(_module_tree(path))
            if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno
        ]
    except (OSError, TypeError, SyntaxError):
        return "a lambda"
    if len(lambdas) > 1:  # several on one line: the one whose columns hold the lambda's code
        columns = [p[2] for p in code.co_positions() if p[0] == code.co_firstlineno and p[2]]
        start = min(columns, default=0)
        lambdas = [
            n for n in lambdas if n.col_offset <= start <= (n.end_col_offset or start)
        ] or lambdas
    if not lambdas:
        return "a lambda"
    segment = ast.get_source_segment(source, lambdas[0]) or "a lambda"
    return f"`{' '.join(segment.split())}`"


def who_may(policy, name: str, permission) -> str:
    """Who may take transition `name`, in words, from its `permission=` and the policy."""
    policy_name = type(policy).__name__ if policy is not None else None
    action = getattr(permission, "policy_action", None)
    if action is not None:
        if policy is None:
            return f"Policy action `{action}`, but **no policy is registered** for the model."
        if action in policy.ACTIONS:
            text = f"Policy action `{action}`: {type(policy).describe(action) or '(undocumented)'}"
            if action in policy.SYSTEM_ACTIONS:
                text += " The system actor also takes it (`SYSTEM_ACTIONS`)."
            return text
        if action in policy.SYSTEM_ACTIONS:
            text = (
                f"System action `{action}` (`{policy_name}.SYSTEM_ACTIONS`): only the portal "
                "itself takes it (a beat task, a worker, or the consequence of a decision or a "
                "determination); no user may."
            )
            described = type(policy).describe(action)
            return text + (f" {described}" if described else "")
        return f"Policy action `{action}`, which **{policy_name} does not know**."
    if permission is None:
        if policy is None:
            return "No permission and no policy: any caller may."
        if name in policy.SYSTEM_ACTIONS:
            text = (
                f"System move (no `permission=`; `{name}` is in `{policy_name}.SYSTEM_ACTIONS`): "
                "taken by the system actor (a beat task) or as the consequence of another action "
                "already checked (`run_transition(consequence_of=...)`); no user takes it directly."
            )
        else:
            text = (
                "System move (no `permission=`): taken only as the consequence of another action "
                "already checked (`run_transition(consequence_of=...)`); neither a user nor the "
                "system actor takes it directly."
            )
        if name in policy.ACTIONS:
            text += (
                f" A user's `{name}` is the policy action of the same name, checked before this "
                f"move follows: {type(policy).describe(name) or '(undocumented)'}"
            )
        return text
    if isinstance(permission, str):
        return f"Django permission `{permission}` (a model-wide grant also passes)."
    qualname = getattr(permission, "__qualname__", repr(permission))
    return f"Callable `{qualname}` (not a policy action)."


# --- rendering ---------------------------------------------------------------------------------


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def mermaid_id(value) -> str:
    return re.sub(r"\W", "_", str(value))


def render_machine(model, field) -> list[str]:
    policy = policy_or_none(model)
    label = model._meta.label
    initial = initial_state(field)
    transitions = ordered_transitions(model, field)
    sources_with_exit = {str(t.source) for _, ts in transitions for t in ts}
    any_exit = any(t.source in (ANY_STATE, ANY_OTHER_STATE) for _, ts in transitions for t in ts)
    doc = " ".join((model.__doc__ or "").split())
    auto_doc = doc.startswith(f"{model.__name__}(")  # Django's generated field list

    lines = [f"## {label}", ""]
    if doc and not auto_doc:
        lines += [doc, ""]
    lines += [
        f"State field `{field.name}`"
        + (" (protected)" if getattr(field, "protected", False) else "")
        + ". Policy: "
        + (f"`{type(policy).__module__}.{type(policy).__name__}`." if policy else "**none**."),
        "",
        "| state | label | |",
        "|---|---|---|",
    ]
    for value, state_label in field.choices or []:
        notes = []
        if str(value) == initial:
            notes.append("initial")
        if str(value) not in sources_with_exit and not any_exit:
            notes.append("final")
        lines.append(f"| `{value}` | {cell(state_label)} | {', '.join(notes)} |")

    lines += ["", "```mermaid", "stateDiagram-v2"]
    if initial is not None:
        lines.append(f"    [*] --> {mermaid_id(initial)}")
    order = state_order(field)
    for name, ts in transitions:
        for t in sorted(ts, key=lambda t: (order.get(str(t.source), len(order)), str(t.source))):
            if t.source in (ANY_STATE, ANY_OTHER_STATE) or t.target is None:
                continue
            lines.append(f"    {mermaid_id(t.source)} --> {mermaid_id(t.target)}: {name}")
    lines += ["```", ""]

    lines += [
        "| transition | from | to | conditions | who may |",
        "|---|---|---|---|---|",
    ]
    for name, ts in transitions:
        sources = sorted({t.source for t in ts}, key=lambda s: (order.get(str(s), 99), str(s)))
        targets = sorted({str(t.target) for t in ts})
        conditions = sorted({condition_text(c) for t in ts for c in t.conditions})
        permissions = {t.permission for t in ts}
        who = "; ".join(sorted(who_may(policy, name, p) for p in permissions))
        # `@transition(custom={"consequence_of": ..., "taken_by": ...})` says which system path
        # applies, where the model declares it.
        custom = {k: v for t in ts for k, v in sorted(t.custom.items())}
        if custom.get("consequence_of"):
            who += f" Follows from `{custom['consequence_of']}`."
        if custom.get("taken_by"):
            who += f" Taken by {custom['taken_by']}."
        method_doc = " ".join((getattr(model, name).__doc__ or "").split())
        if method_doc:
            who += f" *{method_doc}*"
        lines.append(
            f"| `{name}` | {', '.join(state_text(s) for s in sources)} "
            f"| {', '.join(state_text(t) for t in targets)} "
            f"| {cell('; '.join(conditions)) or '—'} | {cell(who)} |"
        )
    lines.append("")
    return lines


def render() -> str:
    machines = fsm_machines()
    lines = [
        "# State machines",
        "",
        f"<!-- Generated by `{REGENERATE}` from the models: do not edit by hand. -->",
        "",
        textwrap.fill(
            "Every object with a lifecycle keeps its state in a django-fsm field and changes it "
            "only through `portal.transitions.run_transition`, which locks the row, checks the "
            "state, asks the object's permission policy, runs the transition, saves and writes "
            'the audit event in one transaction. "Who may" below is the transition\'s '
            "`permission=`: a policy action is answered by the model's policy "
            "(`portal.policies`), whose rule is quoted. A system move has no permission: the "
            "system actor (`None`: a beat task, the import worker) takes it when it is in the "
            "policy's `SYSTEM_ACTIONS`, or it follows from another action already checked "
            "(`consequence_of`).",
            width=100,
        ),
        "",
        f"Regenerate with `{REGENERATE}`; a test fails when this page is stale.",
        "",
    ]
    lines += [f"- [{m._meta.label}](#{anchor(m._meta.label)})" for m, _f in machines]
    lines.append("")
    for model, field in machines:
        lines += render_machine(model, field)
    return "\n".join(lines).rstrip("\n") + "\n"


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


class Command(BaseCommand):
    help = (
        "Write docs/state-machines.md from the models: states, transitions and who may take "
        "each (from the permission policies). --check fails when the file is stale."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit non-zero when the file differs from what would be written.",
        )

    def handle(self, *args, check=False, **options):
        text = render()
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else None
        if check:
            if current != text:
                raise CommandError(
                    f"{shown(DOC_PATH)} is stale: run `{REGENERATE}` and commit the result."
                )
            self.stdout.write(f"{shown(DOC_PATH)} is up to date.")
            return
        if current == text:
            self.stdout.write(f"{shown(DOC_PATH)} is up to date.")
            return
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8", newline="\n")
        self.stdout.write(f"Wrote {shown(DOC_PATH)}.")
