"""Where a case stands, as a GOV.UK task list on its page: each step of the SEC process with
its status, read from what the case page already holds (its ballots, decision record, plan
requirements and referrals are prefetched)."""

from dataclasses import dataclass

from django.utils import timezone

from .models import Case, Decision, PlanRequirement, Referral

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


def case_tasks(case: Case) -> list[Task]:
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
        tasks.append(_plans_task(case))
    tasks.append(_referrals_task(case, issued))
    tasks.append(Task("Case closed", DONE if state == S.CLOSED else CANNOT_START))
    return tasks


def _day(moment) -> str:
    local = timezone.localtime(moment)
    return f"{local.day} {local:%B %Y}"


def _summary_task(case: Case) -> Task:
    if case.party_summary_approved_at:
        return Task("Summary for Parties approved", DONE)
    if case.party_summary:
        return Task("Summary for Parties approved", IN_PROGRESS, "Written: the chair approves it")
    return Task("Summary for Parties approved", TO_DO, "The secretariat writes it")


def _plans_task(case: Case) -> Task:
    requirements = list(case.plan_requirements.all())
    done = sum(r.state == PlanRequirement.State.COMPLETED for r in requirements)
    hint = f"{done} of {len(requirements)} completed" if requirements else "No supplier affected"
    if requirements and done == len(requirements):
        return Task("CPA Certificate Remedial Plans", DONE, hint)
    return Task("CPA Certificate Remedial Plans", IN_PROGRESS, hint)


def _referrals_task(case: Case, issued: bool) -> Task:
    referrals = list(case.referrals.all())
    if not referrals:
        return Task("Referrals to the Authority", NOT_NEEDED if issued else CANNOT_START, "None")
    open_ = [r for r in referrals if r.state != Referral.State.CLOSED]
    hint = f"{len(referrals)} lodged, {len(open_)} open"
    return Task("Referrals to the Authority", IN_PROGRESS if open_ else DONE, hint)
