"""Permission policies (after Wagtail's BasePermissionPolicy): one object per guarded model
answers, side by side so they cannot drift apart,

- `visible(user)`: the objects this user may see (a QuerySet, for lists);
- `can(user, action, obj)` / `require(...)`: may this user take this action on this object now;
- `actions(user, obj)`: every action this user may take on this object now (its state included),
  which templates render as buttons and links;
- `with_action(user, action)`: the objects on which the user may take an action now (dashboards).

A policy writes each rule once, as a `check_<action>` method that returns None when the action
is allowed, or the sentence that tells the user why not. Views, selectors, templates, services
and the FSM `permission=` hooks all ask the policy; no role name or state string is tested
anywhere else.
"""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.http import Http404


class NotNow(str):
    """A refusal because of the object's state, not the user: the page was stale (answered 409,
    "this changed while you were looking"), not forbidden (403)."""


class ActionNotNow(PermissionDenied):
    pass


Refusal = str | None

_REGISTRY: dict[type[models.Model], Policy] = {}
WITH_ACTION_BATCH = 50
PolicyT = TypeVar("PolicyT", bound="Policy")


class Policy:
    model: type[models.Model]
    # The actions this policy knows, in the order buttons are shown; "view" comes first.
    ACTIONS: tuple[str, ...] = ("view",)
    # A system actor (a beat task, a determination) is None: it may take `SYSTEM_ACTIONS`.
    SYSTEM_ACTIONS: frozenset[str] = frozenset()

    # --- the two list questions ---------------------------------------------------------------

    def visible(self, user) -> models.QuerySet:
        raise NotImplementedError

    def candidates(self, user, action: str) -> models.QuerySet:
        """A cheap, ordered superset of the objects on which `user` may take `action` (for
        dashboards): the state and who-filters an index can answer. `with_action` narrows it
        with `can`, so the two answers agree by construction."""
        return self.model._default_manager.all()

    def with_action(self, user, action: str, limit: int | None = None, where=None) -> list:
        """At most `limit` objects: the candidates are read a batch at a time, so a dashboard
        panel reads a page of rows, not every candidate with its prefetches. `where(obj)`, when
        given, narrows the list before the limit counts (a panel's own question)."""
        candidates = self.candidates(user, action)

        def wanted(obj) -> bool:
            return self.can(user, action, obj) and (where is None or where(obj))

        if limit is None:
            return [obj for obj in self.prepare(candidates) if wanted(obj)]
        found: list = []
        batch, start = max(limit, WITH_ACTION_BATCH), 0
        while len(found) < limit:
            objects = list(self.prepare(candidates[start : start + batch]))
            found += [obj for obj in objects if wanted(obj)]
            if len(objects) < batch:
                break
            start += batch
        return found[:limit]

    def prepare(self, queryset: models.QuerySet) -> models.QuerySet:
        """Joins and prefetches that `can` reads, so checking a list costs no query per row."""
        return queryset

    # --- the object questions ----------------------------------------------------------------

    def why_not(self, user, action: str, obj) -> Refusal:
        if action not in self.ACTIONS and action not in self.SYSTEM_ACTIONS:
            raise ValueError(f"{type(self).__name__} knows no action {action!r}")
        if user is None:
            return None if action in self.SYSTEM_ACTIONS else "The system may not do this."
        if action not in self.ACTIONS:
            return "Only the portal itself does this."
        if not user.is_authenticated or not user.is_active:
            return "Sign in first."
        return getattr(self, f"check_{action}")(user, obj)

    def can(self, user, action: str, obj) -> bool:
        return self.why_not(user, action, obj) is None

    def require(self, user, action: str, obj) -> None:
        refusal = self.why_not(user, action, obj)
        if isinstance(refusal, NotNow):
            raise ActionNotNow(refusal)
        if refusal is not None:
            raise PermissionDenied(refusal)

    def users_with(self, action: str, obj, users) -> list:
        """Of `users`, those who may take `action` on `obj` now: whom to notify."""
        return [user for user in users if self.can(user, action, obj)]

    def actions(self, user, obj) -> frozenset[str]:
        return frozenset(a for a in self.ACTIONS if a != "view" and self.can(user, a, obj))

    def get_or_404(self, user, pk, queryset: models.QuerySet | None = None):
        """Missing and forbidden look the same: a 404 never reveals that the object exists."""
        # `can` decides; the queryset only brings what the page needs in few queries.
        queryset = self.prepare(
            queryset if queryset is not None else self.model._default_manager.all()
        )
        try:
            obj = queryset.get(pk=pk)
        except (ObjectDoesNotExist, ValueError, TypeError):
            raise Http404 from None
        if not self.can(user, "view", obj):
            raise Http404
        return obj

    def check_view(self, user, obj) -> Refusal:
        raise NotImplementedError

    @classmethod
    def describe(cls, action: str) -> str:
        """Who may take an action, in words (the check's docstring): for the generated docs."""
        check = getattr(cls, f"check_{action}", None)
        return " ".join((check.__doc__ or "").split()) if check else ""


def register(policy: PolicyT) -> PolicyT:
    _REGISTRY[policy.model] = policy
    return policy


def policy_for(obj_or_model: models.Model | type[models.Model]) -> Policy:
    model = obj_or_model if isinstance(obj_or_model, type) else type(obj_or_model)
    return _REGISTRY[model._meta.concrete_model]  # type: ignore[index]  # None only if abstract


def policy_permission(action: str):
    """For `@transition(permission=...)`: the transition asks the object's policy (looked up at
    call time, so models need not import their policies)."""

    def permitted(instance, user) -> bool:
        return policy_for(instance).can(user, action, instance)

    permitted.policy_action = action  # type: ignore[attr-defined]  # for the state-machine docs
    return permitted
