from celery import shared_task

from . import services


@shared_task(name="governance.tasks.ballots_close_due")
def ballots_close_due():
    return services.ballots_close_due()


@shared_task(name="governance.tasks.ballots_send_reminders")
def ballots_send_reminders():
    return services.ballots_send_reminders()
