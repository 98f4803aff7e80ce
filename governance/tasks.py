from celery import shared_task

from . import services


@shared_task(name="governance.tasks.ballots_close_due")
def ballots_close_due():
    return services.ballots_close_due()


@shared_task(name="governance.tasks.ballots_send_reminders")
def ballots_send_reminders():
    return services.ballots_send_reminders()


@shared_task(name="governance.tasks.plans_mark_overdue")
def plans_mark_overdue():
    from .plans import plans_mark_overdue as mark

    return mark()


@shared_task(name="governance.tasks.plans_lapse_expired")
def plans_lapse_expired():
    from .plans import plans_lapse_expired as lapse

    return lapse()


@shared_task(name="governance.tasks.evidence_sync_all")
def evidence_sync_all():
    return services.evidence_sync_all()


@shared_task(name="governance.tasks.referrals_apply_due")
def referrals_apply_due():
    from .referrals import referrals_apply_due as apply_due

    return apply_due()


@shared_task(name="governance.tasks.cases_close_completed")
def cases_close_completed():
    from .clause63 import cases_close_completed as close

    return close()


@shared_task(name="governance.tasks.plan_ballots_close_due")
def plan_ballots_close_due():
    from .plans import plan_ballots_close_due as close_due

    return close_due()
