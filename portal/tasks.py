from celery import shared_task

from . import audit, documents, forms, notices


@shared_task(name="portal.tasks.notice_deliver")
def notice_deliver(notice_id: int):
    return notices.notice_deliver(notice_id=notice_id)


@shared_task(name="portal.tasks.notices_redispatch")
def notices_redispatch():
    return notices.notices_redispatch()


@shared_task(name="portal.tasks.notices_chase")
def notices_chase():
    return notices.notices_chase()


# The names these tasks had under governance: messages already queued under them when the
# outbox moved are still consumed.
shared_task(name="governance.tasks.notice_deliver")(notice_deliver.run)
shared_task(name="governance.tasks.notices_redispatch")(notices_redispatch.run)
shared_task(name="governance.tasks.notices_chase")(notices_chase.run)


@shared_task(name="portal.tasks.audit_checkpoint")
def audit_checkpoint():
    """Anchor the audit chain's head outside the database, when it moved since the last one."""
    return audit.audit_checkpoint(only_if_moved=True) is not None


@shared_task(name="portal.tasks.private_files_sweep")
def private_files_sweep():
    """Delete private files no row refers to, past the grace period (portal.documents)."""
    return len(documents.private_files_sweep())


@shared_task(name="portal.tasks.submission_tokens_purge")
def submission_tokens_purge():
    """Forget one-time form tokens once their forms are long out of date (portal.forms)."""
    return forms.submission_tokens_purge()
