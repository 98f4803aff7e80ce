import contextlib
import datetime
import uuid

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from .documents import detect_content_type
from .models import SubmissionToken


class LoginForm(AuthenticationForm):
    """Django's form sets the username's max_length after the field is built, so no length
    validator runs and a 5,000-character name reaches authenticate() (and django-axes, whose
    column is 255 long: a 500 on PostgreSQL). Check the length before anything is looked up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))
        field.error_messages["required"] = "Enter your username"
        self.fields["password"].error_messages["required"] = "Enter your password"


class SecurityCodeForm(forms.Form):
    token = forms.CharField(
        label="Security code",
        max_length=6,
        min_length=6,
        help_text="The 6-digit code shown in your authenticator app",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "spellcheck": "false",
                "pattern": "[0-9]*",
            }
        ),
        error_messages={
            "required": "Enter the security code from your authenticator app",
            "min_length": "The security code must be 6 digits",
            "max_length": "The security code must be 6 digits",
        },
    )

    def clean_token(self):
        token = self.cleaned_data["token"].strip()
        if not token.isdigit():
            raise forms.ValidationError("The security code must be 6 digits")
        return token


class DocumentField(forms.FileField):
    """An uploaded document, type-checked by its content once, here: the cleaned upload carries
    `content_type_detected`, which `portal.documents.stored_documents` then uses as it is."""

    default_error_messages = {"empty": "The selected file is empty."}

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if upload:
            detect_content_type(upload)  # raises ValidationError for a refused type
        return upload


class ObjectsField(forms.ModelMultipleChoiceField):
    """A multiple choice of objects whose ids are checked to be ids before any query: a huge
    or malformed id is a form error, never a database error."""

    MAX_ID = 2**63 - 1
    default_error_messages = {
        # Django's "Select a valid choice. 3 is not one of the available choices." names an id.
        "invalid_choice": "Select only from the options listed: one you chose is not among "
        "them (it may have changed since the page was shown).",
    }

    def _check_values(self, value):
        for pk in value:
            text = str(pk)
            if not text.isdigit() or not 0 < int(text) <= self.MAX_ID:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": text[:20]},
                )
        return super()._check_values(value)


class AlreadySubmitted(Exception):
    """The same form was submitted before (a double click, a replay): nothing was done again.
    `result_url` is where the first submission's result is, when it said."""

    def __init__(self, result_url: str = ""):
        super().__init__("This form was already sent, so it was not saved a second time.")
        self.result_url = result_url


class OneTimeSubmissionMixin:
    """A hidden one-time token, new each time the form is shown. The view wraps the form's
    effect in `submitted_once`: the token is written (unique per user) in the same transaction,
    so a second submission of the same form waits for the first, finds the token taken and
    raises AlreadySubmitted (answered by portal.middleware with the first one's result) instead
    of doing it again. Database-enforced, so it holds across workers and parallel requests.

    A POST without a token (a client that never fetched the form) is not deduplicated."""

    TOKEN_FIELD = "submission_token"  # nosec B105  # a field name, not a secret

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.TOKEN_FIELD] = forms.UUIDField(
            required=False,
            initial=uuid.uuid4,
            widget=forms.HiddenInput,
            error_messages={"invalid": "This form is out of date: reload the page and try again."},
        )

    @classmethod
    def answer_a_replay(cls, user, data) -> None:
        """Before anything else is asked of a POST: if its token was used already, it is a replay
        (a double click arriving after the first click changed what the form may do), answered
        with AlreadySubmitted and the first one's result."""
        try:
            token = uuid.UUID(str(data.get(cls.TOKEN_FIELD, "")))
        except ValueError:
            return
        _answer_a_replay(user, token)

    @contextlib.contextmanager
    def submitted_once(self, user):
        """Do the form's effect inside this block; set `.result_url` on what it yields to send a
        replay there."""
        token = self.cleaned_data.get(self.TOKEN_FIELD)
        with transaction.atomic():
            if token is None:
                yield SubmissionToken(user=user)  # unsaved: nothing to deduplicate on
                return
            try:
                with transaction.atomic():
                    submission = SubmissionToken.objects.create(user=user, token=token)
            except IntegrityError:
                _answer_a_replay(user, token)
                raise AlreadySubmitted() from None  # its token purged meanwhile
            yield submission
            if submission.result_url:
                submission.save(update_fields=["result_url"])


def _answer_a_replay(user, token: uuid.UUID) -> None:
    first = SubmissionToken.objects.filter(user=user, token=token).first()
    if first is not None:
        raise AlreadySubmitted(first.result_url)


# A token guards against double clicks and replays of a form shown recently; a form left open
# longer than this is long past its session (SESSION_COOKIE_AGE) and cannot be replayed.
SUBMISSION_TOKEN_KEEP = datetime.timedelta(days=7)


def submission_tokens_purge() -> int:
    """Delete tokens past SUBMISSION_TOKEN_KEEP; the table would otherwise grow by every POST."""
    cutoff = timezone.now() - SUBMISSION_TOKEN_KEEP
    deleted, _ = SubmissionToken.objects.filter(used_at__lt=cutoff).delete()
    return deleted


# Date bounds for the portal's date inputs: a mistyped year (9999, 0202) is a field error.
EARLIEST_DATE = datetime.date(2000, 1, 1)  # before smart metering's CPA regime
YEARS_AHEAD = 10


def _latest_date() -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year + YEARS_AHEAD, day=28 if today.month == 2 else today.day)


def _date_error(message: str, code: str) -> forms.ValidationError:
    # GOV.UK: "[the date] must be …"; a GovukDateField puts its own name for the date.
    return forms.ValidationError(message, code=code, params={"subject": "The date"})


_TOO_EARLY = f"%(subject)s must be the same as or after {EARLIEST_DATE.day} {EARLIEST_DATE:%B %Y}"


def not_in_future(value: datetime.date) -> None:
    """A date something happened: not in the future, not before EARLIEST_DATE."""
    if value > timezone.localdate():
        raise _date_error("%(subject)s must be today or in the past", "future")
    if value < EARLIEST_DATE:
        raise _date_error(_TOO_EARLY, "too_early")


def within_years(value: datetime.date) -> None:
    """A date something is due, expires or takes effect: within YEARS_AHEAD years from today."""
    latest = _latest_date()
    if value > latest:
        raise _date_error(
            f"%(subject)s must be the same as or before {latest.day} {latest:%B %Y} "
            f"(within {YEARS_AHEAD} years)",
            "too_late",
        )
    if value < EARLIEST_DATE:
        raise _date_error(_TOO_EARLY, "too_early")


def say_what_is_missing(messages: dict) -> None:
    """GOV.UK error messages for fields left empty ("Enter the reasons", "Select a severity"),
    never "This field is required.": `{Form: {field name: message}}`. Dates say it themselves
    (portal.widgets.GovukDateField)."""
    for form, fields in messages.items():
        for name, text in fields.items():
            form.base_fields[name].error_messages = {
                **form.base_fields[name].error_messages,
                "required": text,
            }
