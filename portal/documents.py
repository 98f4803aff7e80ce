"""The one pipeline for uploaded documents: type detected from content (once, by
`portal.forms.DocumentField`), stored outside the web root under generated names, removed again
when the transaction that records them fails, and served only as attachments by
permission-checked views."""

import codecs
import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse

ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "image/png": "PNG",
}
TEXT_TYPES = {"text/csv": "CSV", "text/plain": "plain text"}
ALLOWED_DESCRIPTION = "PDF, DOCX, XLSX, CSV, PNG or plain text"


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


def _detect(upload) -> str:
    if upload.size == 0:
        raise ValidationError("The selected file is empty.")
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        raise ValidationError(
            f"The selected file must be smaller than {settings.EVIDENCE_MAX_BYTES // 1048576} MB."
        )
    upload.seek(0)
    head = upload.read(64 * 1024)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is not None:
        if kind.mime in ALLOWED_TYPES:
            return kind.mime
        raise ValidationError(
            f"The selected file is a {kind.extension.upper()} file "
            f"({kind.mime}), not an allowed document type. Upload a "
            f"{ALLOWED_DESCRIPTION} file."
        )
    if _is_text(upload):
        name = (upload.name or "").lower()
        return "text/csv" if name.endswith(".csv") else "text/plain"
    raise ValidationError(
        f"The selected file's type is not recognised. Upload a {ALLOWED_DESCRIPTION} file."
    )


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
    stored file outlives the row that would have pointed at it. Django has no on_rollback hook;
    this is the savepoint-safe equivalent."""
    paths: list[Path] = []

    def store(upload) -> StoredFile:
        stored = _write(upload, folder)
        paths.append(stored.path)
        return stored

    try:
        yield store
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise


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
