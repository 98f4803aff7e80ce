from dataclasses import asdict

from celery import shared_task

from . import imports, services


@shared_task(name="cpl.tasks.certificates_check")
def certificates_check():
    return asdict(services.certificates_check(actor=None))


@shared_task(name="cpl.tasks.cpl_import_run")
def cpl_import_run(import_id: int):
    imports.cpl_import_run(import_id=import_id)


@shared_task(name="cpl.tasks.cpl_imports_resume")
def cpl_imports_resume():
    return imports.cpl_imports_resume()
