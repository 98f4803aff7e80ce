"""What the register may learn from the SSC's case process without importing it (the layering
is governance -> cpl -> portal): governance registers its answers in its AppConfig.ready. Until
then the register knows of no pending referral and shows no case reference."""

from collections.abc import Callable, Iterable

_answers: dict[str, Callable] = {}


def register(*, pending_removals: Callable, references: Callable) -> None:
    _answers.update(pending_removals=pending_removals, references=references)


def pending_removal_referrals(model) -> list[str]:
    """Sentences naming the referrals of `model`'s removal still before the Authority."""
    answer = _answers.get("pending_removals")
    return answer(model) if answer else []


def readable_references(user, references: Iterable[str]) -> set[str]:
    """Of these case and referral references, those `user` may see."""
    answer = _answers.get("references")
    return answer(user, references) if answer else set()
