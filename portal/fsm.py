"""django-fsm's optimistic locking, with its state fields found once per model class.

`django_fsm.ConcurrentTransitionMixin` records each instance's state fields on `__init__` by
filtering every field of the model (`state_fields`); a dashboard builds ~300 instances a
request. The fields of a model class do not change once the app registry is ready, so this
mixin reads them once per class; everything else (the recorded states, the guarded UPDATE,
`ConcurrentTransition`) is the library's own.
"""

from django.apps import apps
from django_fsm import ConcurrentTransitionMixin as _LibraryMixin
from django_fsm import FSMFieldMixin


class ConcurrentTransitionMixin(_LibraryMixin):
    @property
    def state_fields(self):
        cls = type(self)
        fields = cls.__dict__.get("_fsm_state_fields")
        if fields is None:
            fields = tuple(f for f in self._meta.fields if isinstance(f, FSMFieldMixin))
            if apps.ready:  # a class still being built may gain fields
                cls._fsm_state_fields = fields
        return fields
