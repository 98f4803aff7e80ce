"""Referral packs carry an Ed25519 signature of their manifest, made with the key the portal
publishes at /signing-key/; the Authority's notice states the manifest's SHA-256. verify_pack
needs the signature and a manifest that matches the ZIP exactly; bad packs are clear failures,
never tracebacks."""

import hashlib
import json
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.packs import verify_pack
from portal import signing
from portal.models import Notice

from ..helpers import referral_pack_sent

pytestmark = pytest.mark.django_db

MANIFEST, SIGNATURE = "manifest.json", "manifest.json.sig"


@pytest.fixture
def pack(committee, client_for, tmp_path):
    """A pack sent to the Authority and downloaded by it: (pack, members of the ZIP)."""
    _case, referral, pack = referral_pack_sent(committee)
    response = client_for("authority").get(f"/referrals/{referral.pk}/packs/1/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    path = tmp_path / "pack.zip"
    path.write_bytes(body)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return pack, members


def write_zip(path, members: dict) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return str(path)


def fails(path, expected: str, capsys, *args) -> None:
    """verify_pack names the problem, and the command exits 1 with it, no traceback."""
    if not args:
        assert any(expected in problem for problem in verify_pack(path)), verify_pack(path)
    with pytest.raises(SystemExit) as exited:
        call_command("verify_pack", path, *args)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert expected in err and "does NOT verify" in err and "Traceback" not in err


def evidence_name(members) -> str:
    return next(name for name in members if name.startswith("documents/evidence/"))


def test_a_good_pack_verifies_with_the_published_key(pack, client, tmp_path, capsys):
    _, members = pack
    assert SIGNATURE in members and len(members[SIGNATURE]) == 64
    path = write_zip(tmp_path / "good.zip", members)
    assert verify_pack(path) == []
    key_file = tmp_path / "published.pem"
    key_file.write_bytes(b"".join(client.get("/signing-key/portal-signing-key.pem")))
    call_command("verify_pack", path, "--public-key", str(key_file))
    assert "verifies" in capsys.readouterr().out
    # Another key, however well formed, does not vouch for the pack.
    other = tmp_path / "other.pem"
    other.write_text(signing.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    fails(path, f"{SIGNATURE} does not verify", capsys, "--public-key", str(other))


def test_altered_evidence_with_a_rewritten_manifest_fails(pack, tmp_path, capsys):
    _, members = pack
    name = evidence_name(members)
    altered = b"%PDF-1.4 nothing to see here\n"
    manifest = json.loads(members[MANIFEST])
    for entry in manifest["files"]:
        if entry["path"] == name:
            entry["sha256"], entry["size"] = hashlib.sha256(altered).hexdigest(), len(altered)
    rewritten = {**members, name: altered, MANIFEST: json.dumps(manifest).encode()}
    path = write_zip(tmp_path / "rewritten.zip", rewritten)
    assert verify_pack(path) == [
        f"{SIGNATURE} does not verify: the manifest was not signed by the portal's key, or was "
        "altered after"
    ]
    fails(path, f"{SIGNATURE} does not verify", capsys)
    # Re-signed by the forger's own key: still not the portal's.
    forger = Ed25519PrivateKey.generate()
    resigned = {**rewritten, SIGNATURE: forger.sign(rewritten[MANIFEST])}
    fails(write_zip(tmp_path / "resigned.zip", resigned), f"{SIGNATURE} does not verify", capsys)


def test_an_unsigned_pack_fails(pack, tmp_path, capsys):
    _, members = pack
    unsigned = {name: data for name, data in members.items() if name != SIGNATURE}
    path = write_zip(tmp_path / "unsigned.zip", unsigned)
    fails(path, f"{SIGNATURE} is missing: the manifest is not signed", capsys)


def test_an_empty_manifest_fails(pack, tmp_path, capsys):
    _, members = pack
    empty = json.dumps({**json.loads(members[MANIFEST]), "files": []}).encode()
    path = write_zip(tmp_path / "empty.zip", {MANIFEST: empty, SIGNATURE: members[SIGNATURE]})
    fails(path, f"{MANIFEST} lists no files", capsys)


@pytest.mark.parametrize(
    "mangle, expected",
    [
        (lambda entry: entry.pop("sha256"), "has no SHA-256"),
        (lambda entry: entry.update(sha256=None), "has no SHA-256"),
        (lambda entry: entry.update(size="big"), "has no size"),
        (lambda entry: entry.pop("path"), "entry 1 has no path"),
    ],
)
def test_a_manifest_entry_without_a_hash_fails_cleanly(pack, tmp_path, capsys, mangle, expected):
    _, members = pack
    manifest = json.loads(members[MANIFEST])
    mangle(manifest["files"][0])
    path = write_zip(tmp_path / "mangled.zip", {**members, MANIFEST: json.dumps(manifest)})
    fails(path, expected, capsys)


@pytest.mark.parametrize(
    "manifest, expected",
    [
        (b"not json", "is not valid JSON"),
        (b"[]", "has no list of files"),
        (b'{"files": "all of them"}', "has no list of files"),
        (b'{"files": [42]}', "entry 1 has no path"),
    ],
)
def test_a_manifest_that_is_no_manifest_fails_cleanly(pack, tmp_path, capsys, manifest, expected):
    _, members = pack
    path = write_zip(tmp_path / "bad.zip", {**members, MANIFEST: manifest})
    fails(path, expected, capsys)


def test_a_file_not_in_the_manifest_fails(pack, tmp_path, capsys):
    _, members = pack
    path = write_zip(tmp_path / "extra.zip", {**members, "documents/extra.html": b"<script>"})
    fails(path, "documents/extra.html: not listed in the manifest", capsys)


def test_a_manifest_file_missing_from_the_zip_fails(pack, tmp_path, capsys):
    _, members = pack
    name = evidence_name(members)
    missing = {n: data for n, data in members.items() if n != name}
    path = write_zip(tmp_path / "missing.zip", missing)
    fails(path, f"{name}: listed in the manifest but missing", capsys)


def test_something_that_is_not_a_pack_fails_cleanly(tmp_path, capsys):
    path = tmp_path / "not.zip"
    path.write_bytes(b"PK\x03\x04 not really")
    fails(str(path), "not a readable ZIP file", capsys)
    with pytest.raises(CommandError, match="The public key cannot be used"):
        call_command("verify_pack", str(path), "--public-key", str(tmp_path / "absent.pem"))


def test_the_public_key_page_shows_the_key_that_verifies(pack, client):
    _, members = pack
    response = client.get("/signing-key/")  # no sign-in
    assert response.status_code == 200
    page = response.content.decode()
    fingerprint = signing.fingerprint()
    grouped = " ".join(fingerprint[i : i + 4] for i in range(0, 64, 4))
    assert grouped in page
    pem = signing.public_key_pem()
    assert pem.strip() in page
    download = client.get("/signing-key/portal-signing-key.pem")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    published = signing.load_public_keys(b"".join(download), "download")
    assert signing.verify_with(published, members[MANIFEST], members[SIGNATURE]) == fingerprint
    assert client.post("/signing-key/").status_code == 405


def test_the_authority_notice_states_the_manifest_hash(pack):
    sent, members = pack
    digest = hashlib.sha256(members[MANIFEST]).hexdigest()
    assert digest == sent.manifest_sha256
    notice = Notice.objects.get(subject__endswith="referral pack sent to the Authority")
    assert digest in notice.body
    assert "/signing-key/" in notice.body


def test_a_file_twice_in_the_zip_fails(pack, tmp_path, capsys):
    _, members = pack
    name = evidence_name(members)
    path = tmp_path / "twice.zip"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        for member, content in members.items():
            archive.writestr(member, content)
        archive.writestr(name, b"a second copy, read instead of the first")
    fails(str(path), f"{name}: appears more than once in the ZIP", capsys)
