"""Benchmark: a referral pack of N documents × M MB (1 GB by default), built and downloaded
through the real view, each phase in its own process with its time and peak memory."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.benchmarks import measured


class Command(BaseCommand):
    help = "Build and download a large referral pack; print seconds and peak memory."

    def add_arguments(self, parser):
        parser.add_argument("--documents", type=int, default=200)
        parser.add_argument("--size-mb", type=int, default=5)
        parser.add_argument("--workdir", default="bench")
        parser.add_argument(
            "--phase", choices=["run", "setup", "build", "download", "verify"], default="run"
        )

    def handle(self, *args, documents, size_mb, workdir, phase, **options):
        if phase != "run":
            return getattr(self, f"_{phase}")(documents, size_mb, Path(workdir))
        me = [
            sys.executable,
            "manage.py",
            "bench_pack",
            "--documents",
            str(documents),
            "--size-mb",
            str(size_mb),
            "--workdir",
            workdir,
            "--phase",
        ]
        started = time.perf_counter()
        subprocess.run([*me, "setup"], check=True)  # nosec B603  # this command, re-run
        self.stdout.write(
            f"bench-pack: {documents} documents × {size_mb} MB = "
            f"{documents * size_mb / 1024:.2f} GB of evidence "
            f"(set up in {time.perf_counter() - started:.0f} s)"
        )
        for name in ("build", "download", "verify"):
            seconds, peak, out = measured([*me, name])
            self.stdout.write(f"{name:9} {seconds:6.1f} s, peak memory {peak:5.0f} MB   {out}")

    def _setup(self, documents, size_mb, workdir):
        import hashlib
        import uuid

        from django.conf import settings
        from django.contrib.auth.models import Group

        from cpl.models import AssuranceCertificate
        from cpl.services import cpl_import_path
        from governance.models import EvidenceDocument, Referral
        from governance.services import case_open, evidence_sync_access
        from portal.demo import SAMPLE_CPL
        from portal.models import Organisation, User
        from portal.roles import Role

        cpl_import_path(actor=None, path=SAMPLE_CPL)
        orgs = {
            key: Organisation.objects.get_or_create(name=name, defaults={"party_type": kind})[0]
            for key, name, kind in [
                ("ssc", "SSC", "ssc"),
                ("sup", "Bench Supplier", "large_supplier"),
                ("auth", "Ofgem", "authority"),
            ]
        }
        users = {}
        for username, org, role in [
            ("secretariat", "ssc", Role.SECRETARIAT),
            ("supplier", "sup", Role.SUPPLIER),
            ("authority", "auth", Role.AUTHORITY),
        ]:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"organisation": orgs[org]}
            )
            user.groups.add(Group.objects.get(name=role))
            users[username] = user
        certificate = AssuranceCertificate.objects.filter(kind="cpa", status="expired").first()
        case = case_open(
            actor=users["secretariat"],
            certificate=certificate,
            device_models=certificate.device_models.all(),
            event="expired",
            event_date=certificate.expiry,
            reason="bench",
            severity="low",
            summary="bench",
            addressed_to=[orgs["sup"]],
        )
        folder = Path(settings.PRIVATE_STORAGE_ROOT) / "evidence"
        folder.mkdir(parents=True, exist_ok=True)
        block = os.urandom(1024 * 1024)
        rows = []
        for index in range(documents):
            stored_name, digest = uuid.uuid4().hex, hashlib.sha256()
            with open(folder / stored_name, "wb") as out:
                for part in range(size_mb):
                    chunk = block[index % 997 :] + block[: index % 997] if part == 0 else block
                    out.write(chunk)
                    digest.update(chunk)
            rows.append(
                EvidenceDocument(
                    case=case,
                    title=f"Evidence {index}",
                    classification="ssc-only",
                    original_name=f"evidence-{index}.pdf",
                    stored_name=stored_name,
                    content_type="application/pdf",
                    size=size_mb * 1024 * 1024,
                    sha256=digest.hexdigest(),
                    uploaded_by=users["secretariat"],
                )
            )
        EvidenceDocument.objects.bulk_create(rows)
        # Rows written in bulk (the bytes are too big for uploads): grant them by rule, as an
        # upload would, so the evidence policy admits the secretariat to disclose them.
        evidence_sync_access(actor=None, case=case)
        Referral.objects.create(
            reference="REF-BENCH",
            case=case,
            kind="remove",
            organisation=orgs["sup"],
            lodged_by=users["supplier"],
            grounds="bench",
        )

    def _build(self, documents, size_mb, workdir):
        from governance.models import Referral
        from governance.referrals import referral_send_pack
        from portal.models import User

        referral = Referral.objects.get(reference="REF-BENCH")
        pack = referral_send_pack(
            actor=User.objects.get(username="secretariat"),
            referral=referral,
            disclosed=list(referral.case.documents.all()),
        )
        self.stdout.write(
            f"pack v{pack.version}: {len(pack.files)} files, {pack.total_size / 1024**3:.2f} GB"
        )

    def _download(self, documents, size_mb, workdir):
        from django.test import Client
        from django.urls import reverse
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from governance.models import Referral
        from portal.models import User

        user = User.objects.get(username="authority")
        device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", confirmed=True)
        client = Client()
        client.force_login(user)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        referral = Referral.objects.get(reference="REF-BENCH")
        response = client.get(
            reverse("governance:pack-download", args=[referral.pk, 1]),
            secure=True,
            HTTP_HOST="127.0.0.1",
        )
        if response.status_code != 200:
            raise CommandError(f"download failed: {response.status_code}")
        size = 0
        with open(workdir / "pack.zip", "wb") as out:
            for chunk in response.streaming_content:
                out.write(chunk)
                size += len(chunk)
        self.stdout.write(f"{size / 1024**3:.2f} GB streamed to {workdir / 'pack.zip'}")

    def _verify(self, documents, size_mb, workdir):
        from governance.packs import verify_pack

        problems = verify_pack(workdir / "pack.zip")
        if problems:
            raise CommandError("; ".join(problems[:5]))
        self.stdout.write("verify_pack: the manifest's signature holds and every file matches it")
