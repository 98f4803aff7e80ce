"""The one pipeline for uploaded documents: type detected from content (once, by
`portal.forms.DocumentField`), stored outside the web root under generated names, removed again
when the transaction that records them fails, and served only as attachments by
permission-checked views."""

import codecs
import hashlib
import logging
import os
import re
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import filetype
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.http import FileResponse, HttpResponse, QueryDict
from django.urls import Resolver404, resolve
from django.utils.datastructures import MultiValueDict

logger = logging.getLogger(__name__)

ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "image/png": "PNG",
}
TEXT_TYPES = {"text/csv": "CSV", "text/plain": "plain text"}
ALLOWED_DESCRIPTION = "PDF, DOCX, XLSX, CSV, PNG or plain text"
# Names a browser, mail client or desktop would open as active content. A document with one is
# refused whatever its bytes are; downloads are attachments named after the original file.
DANGEROUS_EXTENSIONS = frozenset(
    [
        "htm",
        "html",
        "xhtml",
        "xht",
        "shtml",
        "mht",
        "mhtml",
        "svg",
        "svgz",
        "xml",
        "xsl",
        "xslt",
        "hta",
        "js",
        "mjs",
        "cjs",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "wsc",
        "sct",
        "ps1",
        "psm1",
        "bat",
        "cmd",
        "com",
        "exe",
        "scr",
        "msi",
        "msp",
        "dll",
        "cpl",
        "pif",
        "lnk",
        "url",
        "reg",
        "jar",
        "jnlp",
        "swf",
        "php",
        "phtml",
        "asp",
        "aspx",
        "jsp",
        "cgi",
        "pl",
        "py",
        "sh",
        "appcache",
        "hlp",
        "chm",
        "inf",
    ]
)
# Plain text is only accepted under a plain-text name.
TEXT_EXTENSIONS = frozenset({"", "txt", "text", "csv", "log", "md"})
# Browsers that sniff look at the first bytes: nothing there may read as markup.
SNIFF_BYTES = 1024
MARKUP_MARKERS = (b"<html", b"<script", b"<svg", b"<!doctype html", b"<iframe", b"<body", b"<?xml")


@dataclass(frozen=True)
class StoredFile:
    original_name: str
    stored_name: str
    content_type: str
    size: int
    sha256: str
    path: Path

    def fields(self) -> dict:
        """The values of a StoredDocument's file fields."""
        return {
            "original_name": self.original_name,
            "stored_name": self.stored_name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


def _private_dir(folder: str) -> Path:
    path = Path(settings.PRIVATE_STORAGE_ROOT) / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def detect_content_type(upload) -> str:
    """The document's type from its bytes; its name and the browser's claim are ignored.

    The answer is kept on the upload (`content_type_detected`), so a file checked by its form
    field is not read again by the service that stores it."""
    detected = getattr(upload, "content_type_detected", None)
    if detected is None:
        detected = upload.content_type_detected = _detect(upload)
    return detected


def extension(name: str | None) -> str:
    """The extension a desktop would act on: Windows ignores trailing dots and spaces."""
    base = Path((name or "").replace("\\", "/")).name.rstrip(". ").lower()
    return base.rpartition(".")[2] if "." in base else ""


def _detect(upload) -> str:
    if upload.size == 0:
        raise ValidationError("The selected file is empty.")
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        raise ValidationError(
            f"The selected file must be smaller than {settings.EVIDENCE_MAX_BYTES // 1048576} MB."
        )
    ext = extension(upload.name)
    if ext in DANGEROUS_EXTENSIONS or "\x00" in (upload.name or ""):
        raise ValidationError(
            f"Files named .{ext} are not accepted. Upload a {ALLOWED_DESCRIPTION} file."
        )
    upload.seek(0)
    head = upload.read(64 * 1024)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is not None:
        if kind.mime not in ALLOWED_TYPES:
            raise ValidationError(
                f"The selected file is a {kind.extension.upper()} file "
                f"({kind.mime}), not an allowed document type. Upload a "
                f"{ALLOWED_DESCRIPTION} file."
            )
        # filetype skips a byte-order mark; a PDF reader does not need one and a sniffing
        # browser would see text: a PDF starts with its signature.
        if kind.mime == "application/pdf" and not head.startswith(b"%PDF-"):
            raise ValidationError("The selected file is not a well-formed PDF.")
        if kind.mime == "application/pdf" and _looks_like_markup(head):
            raise ValidationError(_MARKUP_REFUSED)
        return kind.mime
    if _is_text(upload):
        if _looks_like_markup(head):
            raise ValidationError(_MARKUP_REFUSED)
        if ext not in TEXT_EXTENSIONS:
            raise ValidationError(
                f"The selected file is plain text but is named .{ext}. Upload a "
                f"{ALLOWED_DESCRIPTION} file, with a .txt or .csv name for text."
            )
        return "text/csv" if ext == "csv" else "text/plain"
    raise ValidationError(
        f"The selected file's type is not recognised. Upload a {ALLOWED_DESCRIPTION} file."
    )


_MARKUP_REFUSED = (
    "The selected file contains web page markup (HTML, script or SVG), which is not accepted. "
    f"Upload a {ALLOWED_DESCRIPTION} file."
)


def _looks_like_markup(head: bytes) -> bool:
    start = head[:SNIFF_BYTES].lower()
    return any(marker in start for marker in MARKUP_MARKERS)


def _is_text(upload) -> bool:
    decoder_ok = True
    upload.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        for chunk in upload.chunks():
            if b"\x00" in chunk:
                decoder_ok = False
                break
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        decoder_ok = False
    upload.seek(0)
    return decoder_ok


def _write(upload, folder: str) -> StoredFile:
    content_type = detect_content_type(upload)
    stored_name = uuid.uuid4().hex
    path = _private_dir(folder) / stored_name
    digest = hashlib.sha256()
    size = 0
    out = open(path, "xb")  # exclusive: never overwrites another document's bytes
    try:
        with out:
            for chunk in upload.chunks():
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # no partial file
        raise
    original_name = Path(upload.name or "document").name[-255:]
    return StoredFile(original_name, stored_name, content_type, size, digest.hexdigest(), path)


@contextmanager
def stored_documents(*, folder: str) -> Iterator[Callable[..., StoredFile]]:
    """Yield `store(upload) -> StoredFile`; every file stored in the block is removed again if
    the block raises.

    Wrap the service's transaction in it, outside: `with stored_documents(folder=...) as store,
    transaction.atomic():`. Then a rollback (of the transaction, or of the savepoint when the
    service runs inside another one) and a failed COMMIT both reach it as an exception, and no
    stored file outlives the row that would have pointed at it. When the block's transaction
    was itself inside another one, that one can still roll back after the block: the files are
    then removed at its rollback too (`remove_on_rollback`)."""
    paths: list[Path] = []

    def store(upload) -> StoredFile:
        if isinstance(upload, PendingUpload):
            stored = _claim(upload, folder)
        else:
            stored = _write(upload, folder)
        paths.append(stored.path)
        return stored

    try:
        yield store
    except BaseException:
        _remove(paths)
        raise
    remove_on_rollback(paths)


# Files chosen on a POST that had other errors ---------------------------------------------------
# A form with errors keeps the file that passed its checks, so the user does not choose it again:
# the file waits in PENDING_FOLDER under a signed token bound to the user and the form's scope.
# The next POST hands the PendingUpload to `store`, which moves it in once (a replayed token finds
# nothing). A file never used is swept with the other orphans (PRIVATE_ORPHAN_GRACE_HOURS, longer
# than the token lives).

PENDING_FOLDER = "pending"
_PENDING_SALT = "portal.documents.pending-upload"
_STORED_NAME = re.compile(r"[0-9a-f]{32}")
PENDING_FOREIGN = "The file you chose earlier cannot be used on this form. Choose the file again."
PENDING_EXPIRED = "The file you chose earlier has expired. Choose the file again."
PENDING_GONE = "The file you chose earlier has already been used. Choose the file again."


@dataclass(frozen=True)
class PendingUpload:
    """A checked upload kept for the next POST of the same form, by the same user."""

    token: str
    original_name: str
    stored_name: str
    content_type: str
    size: int
    sha256: str

    @property
    def path(self) -> Path:
        return _private_dir(PENDING_FOLDER) / self.stored_name

    @property
    def available(self) -> bool:
        """Still kept: not used (moved) yet, nor removed."""
        return self.path.is_file()


def pending_upload_max_age() -> int:
    """Seconds a kept file may be used: no longer than the session it was chosen in."""
    return int(settings.SESSION_COOKIE_AGE)


def pending_upload_keep(upload, *, user, scope: str) -> PendingUpload:
    """Store an upload that passed the document checks until the form is sent again."""
    stored = _write(upload, PENDING_FOLDER)
    payload = {"user": user.pk, "scope": scope, **stored.fields()}
    token = signing.dumps(payload, salt=_PENDING_SALT, compress=True)
    return PendingUpload(token=token, **stored.fields())


def pending_upload_get(token: str, *, user, scope: str) -> PendingUpload:
    """The file a token kept for this user and scope; ValidationError when it was kept for
    someone or something else or has expired (then it is removed). Whether it was used already
    is known when `store` claims it (`available` before that): a double click is then answered
    as one by the form's submission token, which is taken first."""
    try:
        data = signing.loads(token, salt=_PENDING_SALT, max_age=pending_upload_max_age())
    except signing.SignatureExpired:
        _pending_remove(signing.loads(token, salt=_PENDING_SALT))  # signed by us, only too old
        raise ValidationError(PENDING_EXPIRED, code="pending_expired") from None
    except signing.BadSignature:
        raise ValidationError(PENDING_FOREIGN, code="pending_foreign") from None
    if data.get("user") != user.pk or data.get("scope") != scope:
        raise ValidationError(PENDING_FOREIGN, code="pending_foreign")
    if not _STORED_NAME.fullmatch(str(data.get("stored_name"))):
        raise ValidationError(PENDING_FOREIGN, code="pending_foreign")
    return PendingUpload(
        token=token,
        original_name=data["original_name"],
        stored_name=data["stored_name"],
        content_type=data["content_type"],
        size=data["size"],
        sha256=data["sha256"],
    )


def pending_upload_discard(pending: PendingUpload) -> None:
    """A kept file replaced by a newly chosen one."""
    pending.path.unlink(missing_ok=True)


def _pending_remove(data) -> None:
    name = str(data.get("stored_name")) if isinstance(data, dict) else ""
    if _STORED_NAME.fullmatch(name):
        (_private_dir(PENDING_FOLDER) / name).unlink(missing_ok=True)


def _claim(pending: PendingUpload, folder: str) -> StoredFile:
    """Move a kept file into its folder. A rename is atomic: of two requests with the same token,
    one gets the file and the other finds nothing."""
    path = _private_dir(folder) / uuid.uuid4().hex
    try:
        os.rename(pending.path, path)
    except FileNotFoundError:
        raise ValidationError(PENDING_GONE, code="pending_gone") from None
    os.utime(path)  # a file of the folder from now: the sweep's grace runs from here
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as kept:
        while chunk := kept.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    if size != pending.size or digest.hexdigest() != pending.sha256:
        path.unlink(missing_ok=True)
        raise ValidationError(PENDING_GONE, code="pending_gone")
    return StoredFile(
        pending.original_name, path.name, pending.content_type, size, pending.sha256, path
    )


def _remove(paths) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class _CommitMark:
    """An on_commit callback that only records that the commit happened."""

    def __init__(self, committed: list):
        self.committed = committed

    def __call__(self):
        self.committed.append(True)


def remove_on_rollback(paths: list[Path]) -> None:
    """Remove these files if the transaction in progress rolls back; keep them if it commits.

    Django has no on_rollback hook, but a rollback discards the on_commit callbacks registered
    inside it (and a commit runs, then drops them): the callback is freed at once, and its
    finaliser removes the files if it was freed by a rollback. Freed while commit hooks run
    (a hook before it raised), it keeps them. Outside a transaction: nothing to wait for. A
    process killed before either leaves the files to `private_files_sweep`."""
    connection = transaction.get_connection()
    if not paths or not connection.in_atomic_block:
        return
    committed: list = []
    mark = _CommitMark(committed)
    weakref.finalize(mark, _remove_if_rolled_back, list(paths), committed, connection)
    transaction.on_commit(mark)


def _remove_if_rolled_back(paths: list[Path], committed: list, connection) -> None:
    if not committed and not getattr(connection, "run_commit_hooks_on_set_autocommit_on", True):
        _remove(paths)


def attachment_response(document, *, folder: str):
    """Serve a StoredDocument as a download, never inline."""
    path = _private_dir(folder) / document.stored_name
    response = FileResponse(
        open(path, "rb"),
        as_attachment=True,
        filename=document.original_name,
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# Uploads larger than the page takes are refused while the body streams in --------------------

# Room for the form's other fields around the file in a multipart body.
_FORM_OVERHEAD = 1024 * 1024


def upload_limit(request) -> int:
    """The most file bytes one request to this page may carry: the register and inventory
    imports take larger files (settings.UPLOAD_MAX_BYTES_BY_VIEW), every other page takes
    documents of at most EVIDENCE_MAX_BYTES."""
    try:
        view_name = resolve(request.path_info).view_name
    except Resolver404:
        view_name = None
    limits = getattr(settings, "UPLOAD_MAX_BYTES_BY_VIEW", {})
    return int(limits.get(view_name, settings.EVIDENCE_MAX_BYTES))


class BoundedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS. A body whose declared length is already too large is not
    read at all; otherwise the file bytes are counted as they stream and reading stops at the
    limit, before the next handler spools them to disk (whose partial file is then closed and
    deleted). RequestInputMiddleware turns the mark left on the request into a 413."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = upload_limit(request) if request is not None else settings.EVIDENCE_MAX_BYTES
        self.received = 0

    def _refuse(self):
        if self.request is not None:
            self.request.upload_refused_limit = self.limit

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.limit + _FORM_OVERHEAD:
            self._refuse()
            return QueryDict(encoding=encoding), MultiValueDict()  # the body is never read
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None


def upload_limit_exceeded(request) -> HttpResponse | None:
    """The 413 for a request whose upload BoundedUploadHandler stopped, else None."""
    limit = getattr(request, "upload_refused_limit", None)
    if limit is None:
        return None
    from .errors import error_page

    return error_page(413, request, limit=limit)


# Files no row refers to ------------------------------------------------------------------------
# A file is written before the row that points at it. `stored_documents` removes it when the
# transaction fails inside its block; a rollback of an enclosing transaction later, or a process
# killed mid-upload, can still leave one behind: `private_files_sweep` deletes those, once they
# are older than PRIVATE_ORPHAN_GRACE_HOURS (an upload in progress has no row yet). Django's own
# temporary upload files are in the OS temporary folder (FILE_UPLOAD_TEMP_DIR unset), which
# Django deletes after the request and the OS cleans.

_STORAGE_FOLDERS: dict[str, list[Callable[[], Iterable[str]]]] = {}


def register_storage_folder(folder: str, *referenced: Callable[[], Iterable[str]]) -> None:
    """Declare a folder under PRIVATE_STORAGE_ROOT and how to list the stored names that rows
    refer to. Only declared folders are swept."""
    _STORAGE_FOLDERS.setdefault(folder, []).extend(referenced)


def stored_names(model, field: str = "stored_name") -> Callable[[], Iterable[str]]:
    """The stored names of a model's rows."""
    return lambda: model._default_manager.values_list(field, flat=True).iterator()


def listed_files(model, field: str, folder: str) -> Callable[[], Iterable[str]]:
    """The stored names in `folder` listed by a JSON field of entries {"folder", "stored_name"}
    (a referral pack's files)."""

    def names():
        for entries in model._default_manager.values_list(field, flat=True).iterator():
            for entry in entries or ():
                if isinstance(entry, dict) and entry.get("folder") == folder:
                    yield entry.get("stored_name")

    return names


def private_files_sweep(*, grace_hours: float | None = None, dry_run: bool = False) -> list[Path]:
    """Delete the files of declared folders that no row refers to and that are older than the
    grace period; return them."""
    hours = settings.PRIVATE_ORPHAN_GRACE_HOURS if grace_hours is None else grace_hours
    cutoff = time.time() - hours * 3600
    root = Path(settings.PRIVATE_STORAGE_ROOT)
    swept = []
    for folder, providers in _STORAGE_FOLDERS.items():
        directory = root / folder
        if not directory.is_dir():
            continue
        # Listed before the rows are read: a file written after the listing is not a candidate.
        candidates = [
            path
            for path in directory.iterdir()
            if path.is_file() and not path.is_symlink() and path.lstat().st_mtime < cutoff
        ]
        if not candidates:
            continue
        referenced = {name for provider in providers for name in provider()}
        for path in candidates:
            if path.name not in referenced:
                if not dry_run:
                    path.unlink(missing_ok=True)
                swept.append(path)
    if swept and not dry_run:
        logger.info("Deleted %d private files no row refers to", len(swept))
    return swept


# Kept files no form came back for: every one is an orphan once past the grace period.
register_storage_folder(PENDING_FOLDER)
