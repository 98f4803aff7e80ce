"""The portal's Ed25519 signing key: it signs the audit chain's checkpoints and the referral
packs' manifests. The private key never enters the database (an attacker with database access
must not be able to sign); it comes from the environment or a file.

- PORTAL_SIGNING_KEY: the key as PEM (PKCS#8) or as the base64 of its 32-byte seed.
- PORTAL_SIGNING_KEY_FILE: a file holding either of those.
- PORTAL_SIGNING_RETIRED_KEYS_FILE: PEM public keys the portal signed with before a rotation;
  signatures made with them still verify.
- PORTAL_DEV_SIGNING_KEY_FILE (settings only, DEBUG and tests): without a configured key, a key
  is generated there, with a loud warning. Production has no such fallback (system check).
"""

import base64
import binascii
import hashlib
import logging
import os
import re
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


class SigningKeyError(ImproperlyConfigured):
    """No usable signing key: the portal cannot sign anchors or packs."""


def _parse_private_key(data: bytes, source: str) -> Ed25519PrivateKey:
    data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(data, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SigningKeyError(
            f"{source} is not an Ed25519 private key (PEM, or the base64 of a 32-byte seed): {exc}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{source} holds a {type(key).__name__}, not an Ed25519 key.")
    return key


def _dev_key(path: Path) -> Ed25519PrivateKey:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # generated before, or by a process starting beside this one
        key = _parse_private_key(path.read_bytes(), str(path))
    else:
        key = Ed25519PrivateKey.generate()
        with os.fdopen(fd, "wb") as out:
            out.write(private_key_pem(key))
    logger.warning(
        "USING A DEVELOPMENT SIGNING KEY (%s): audit checkpoints and referral packs signed "
        "with it prove nothing. Set PORTAL_SIGNING_KEY or PORTAL_SIGNING_KEY_FILE in "
        "production.",
        path,
    )
    return key


@lru_cache(maxsize=4)
def _load(key_text: str, key_file: str, dev_file: str) -> Ed25519PrivateKey:
    if key_text:
        return _parse_private_key(key_text.encode(), "PORTAL_SIGNING_KEY")
    if key_file:
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"PORTAL_SIGNING_KEY_FILE cannot be read: {exc}") from None
        return _parse_private_key(data, f"PORTAL_SIGNING_KEY_FILE ({key_file})")
    if dev_file:
        return _dev_key(Path(dev_file))
    raise SigningKeyError(
        "No signing key: set PORTAL_SIGNING_KEY (PEM or base64 seed) or "
        "PORTAL_SIGNING_KEY_FILE. Without it the audit chain cannot be anchored and referral "
        "packs cannot be signed."
    )


def signing_key() -> Ed25519PrivateKey:
    return _load(
        getattr(settings, "PORTAL_SIGNING_KEY", "") or "",
        str(getattr(settings, "PORTAL_SIGNING_KEY_FILE", "") or ""),
        str(getattr(settings, "PORTAL_DEV_SIGNING_KEY_FILE", "") or ""),
    )


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def sign(data: bytes) -> bytes:
    return signing_key().sign(data)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PublicKey | None = None) -> str:
    """SHA-256 of the raw 32-byte public key, in hex: what checkpoints name and the key page
    shows."""
    key = key or public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_keys(data: bytes, source: str) -> list[Ed25519PublicKey]:
    """Every PEM public key in data (a bundle may hold several)."""
    keys = []
    for block in _PEM_BLOCK.findall(data):
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError as exc:
            raise SigningKeyError(
                f"{source} holds a block that is not a public key: {exc}"
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"{source} holds a {type(key).__name__}, not an Ed25519 key.")
        keys.append(key)
    if not keys:
        raise SigningKeyError(f"{source} holds no PEM public key.")
    return keys


def retired_public_keys() -> list[Ed25519PublicKey]:
    path = getattr(settings, "PORTAL_SIGNING_RETIRED_KEYS_FILE", "")
    if not path:
        return []
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"PORTAL_SIGNING_RETIRED_KEYS_FILE cannot be read: {exc}") from None
    return load_public_keys(data, f"PORTAL_SIGNING_RETIRED_KEYS_FILE ({path})")


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    """The current key and the retired ones, by fingerprint."""
    keys = [public_key(), *retired_public_keys()]
    return {fingerprint(key): key for key in keys}


def verify_with(keys, data: bytes, signature: bytes) -> str | None:
    """The fingerprint of the key among keys that made signature over data, or None."""
    for key in keys:
        try:
            key.verify(signature, data)
        except InvalidSignature:
            continue
        return fingerprint(key)
    return None


def check_signing_key(app_configs=None, **kwargs):
    """System check: production refuses to start without a usable key."""
    from django.core.checks import Error

    try:
        signing_key()
        retired_public_keys()
    except SigningKeyError as exc:
        return [
            Error(
                str(exc),
                hint="See the README, section 'Signing key and audit anchors'.",
                id="portal.E001",
            )
        ]
    return []
