"""Where a case stands, as a GOV.UK task list on its page: each step of the SEC process with
its status, read from what the case page already holds (its ballots, decision record, plan
requirements and referrals are prefetched)."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from .models import Case, Decision, PlanRequirement, Referral
from .policies import referral_window

DONE, IN_PROGRESS, TO_DO, CANNOT_START, NOT_NEEDED = (
    "Completed",
    "In progress",
    "Not yet started",
    "Cannot start yet",
    "Not needed",
)
S = Case.State
BEFORE_VOTING = (S.OPENED, S.ASSESSMENT)
UNDECIDED = (S.OPENED, S.ASSESSMENT, S.VOTING)


@dataclass(frozen=True)
class Task:
    name: str
    status: str
    hint: str = ""

    @property
    def tag(self) -> str:
        """The GOV.UK tag colour of a status that is not plain text."""
        return {IN_PROGRESS: "govuk-tag--light-blue", TO_DO: "govuk-tag--blue"}.get(self.status, "")


def case_tasks(case: Case, requirements: list | None = None) -> list[Task]:
    """`requirements`: the case's plan requirements the viewer may see (a supplier sees only its
    own: the count must not tell it that other suppliers exist); all of them when None."""
    state = case.state
    record = getattr(case, "decision_record", None)
    issued = record is not None and record.issued_at is not None
    tasks = [
        Task("Case opened", DONE, _day(case.opened_at)),
        Task(
            "SSC assessment: evidence and Parties' views",
            TO_DO if state == S.OPENED else IN_PROGRESS if state == S.ASSESSMENT else DONE,
        ),
        _summary_task(case),
        Task(
            "SSC ballot",
            CANNOT_START
            if state == S.OPENED
            else TO_DO
            if state == S.ASSESSMENT
            else IN_PROGRESS
            if state == S.VOTING
            else DONE,
        ),
        Task(
            "Decision notice issued",
            DONE if issued else TO_DO if state == S.DECIDED else CANNOT_START,
            f"{_day(record.issued_at)}: {record.get_decision_display()}" if issued else "",
        ),
    ]
    if issued and case.decision == Decision.REMEDIAL_PLAN:
        tasks.append(_plans_task(case, requirements))
    tasks.append(_referrals_task(case, record if issued else None))
    tasks.append(Task("Case closed", DONE if state == S.CLOSED else CANNOT_START))
    return tasks


def _day(moment) -> str:
    local = (
        moment
        if isinstance(moment, datetime.date) and not isinstance(moment, datetime.datetime)
        else timezone.localtime(moment)
    )
    return f"{local.day} {local:%B %Y}"


def _summary_task(case: Case) -> Task:
    if case.party_summary_approved_at:
        return Task("Summary for Parties approved", DONE)
    if case.party_summary:
        return Task("Summary for Parties approved", IN_PROGRESS, "Written: the chair approves it")
    return Task("Summary for Parties approved", TO_DO, "The secretariat writes it")


def _plans_task(case: Case, visible: list | None) -> Task:
    requirements = list(case.plan_requirements.all()) if visible is None else visible
    if visible is not None and not visible and case.plan_requirements.all():
        return Task("CPA Certificate Remedial Plans", IN_PROGRESS)  # none of them the viewer's
    done = sum(r.state == PlanRequirement.State.COMPLETED for r in requirements)
    hint = f"{done} of {len(requirements)} completed" if requirements else "No supplier affected"
    if requirements and done == len(requirements):
        return Task("CPA Certificate Remedial Plans", DONE, hint)
    return Task("CPA Certificate Remedial Plans", IN_PROGRESS, hint)


def _referrals_task(case: Case, record) -> Task:
    """`record`: the issued decision, None before. Until the referral window closes, say when
    it does (SEC F2.7B): other Parties may still refer after one has."""
    name = "Referrals to the Authority"
    if record is None:
        return Task(name, CANNOT_START, "None")
    _, last = referral_window(record.issued_at)
    if last is None:
        window = "Window open"
    elif timezone.localdate() <= last:
        window = f"Window open until {_day(last)}"
    else:
        window = ""
    referrals = list(case.referrals.all())
    if not referrals:
        return Task(name, window or NOT_NEEDED, "None lodged")
    open_ = [r for r in referrals if r.state != Referral.State.CLOSED]
    hint = f"{len(referrals)} lodged, {len(open_)} open"
    if open_:
        return Task(name, IN_PROGRESS, f"{hint}; w{window[1:]}" if window else hint)
    return Task(name, window or DONE, hint)
