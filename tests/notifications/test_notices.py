"""Numbered notices (催办 / 督办) in the outbox: sequential per plan and prefix, written once."""

from __future__ import annotations

import threading
from datetime import date, datetime

from sqlmodel import Session, col, select

from rollout import db
from rollout.calendar import TZ, at_local
from rollout.deadlines import Step, StepKind
from rollout.models import Channel, NoticeCounter, OutboxMessage, TrackedTask
from rollout.notifications.notices import enqueue_notice, format_notice_number
from rollout.notifications.recipients import Recipient

NOW = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
TO = Recipient("220102", None, "南关区", Channel.email, "gk-220102@example.org")


def _step(key: str, kind: StepKind, on: date, levels_up: int = 0) -> Step:
    return Step(key, kind, on, at_local(on, NOW.timetz().replace(tzinfo=None)), levels_up)


R10 = _step("reminder-10", StepKind.reminder, date(2020, 6, 16))
E1 = _step("escalation-1", StepKind.escalation, date(2020, 7, 2), 1)
OV = _step("overdue-1", StepKind.overdue, date(2020, 7, 15), 2)


def _catalog_tasks(engine, n: int) -> list[TrackedTask]:
    with Session(engine) as s:
        return list(s.exec(select(TrackedTask).where(col(TrackedTask.key).startswith("catalog:"))
                           .order_by(TrackedTask.id).limit(n)))


def test_format():
    assert format_notice_number("催办", 2020, 153) == "催办〔2020〕0153号"
    assert format_notice_number("督办", 2021, 12345) == "督办〔2021〕12345号"


def test_numbers_are_sequential_per_prefix_and_a_duplicate_writes_nothing(jilin):
    a, b, c = _catalog_tasks(jilin, 3)
    with db.unit_of_work(jilin) as s:
        got = [enqueue_notice(s, t, R10, TO, NOW) for t in (a, b, c)]
        assert [m.notice_number for m in got] == [
            "催办〔2020〕0001号", "催办〔2020〕0002号", "催办〔2020〕0003号"]
        assert enqueue_notice(s, a, E1, TO, NOW).notice_number == "督办〔2020〕0001号"
        assert enqueue_notice(s, a, OV, TO, NOW).notice_number == "督办〔2020〕0002号"
    with db.unit_of_work(jilin) as s:
        assert enqueue_notice(s, a, R10, TO, NOW) is None  # same task, due day, step, channel
        assert enqueue_notice(s, c, E1, TO, NOW).notice_number == "督办〔2020〕0003号"
        webhook = Recipient("220102", None, "南关区", Channel.webhook, "https://hook.example.org")
        assert enqueue_notice(s, a, R10, webhook, NOW).notice_number == "催办〔2020〕0004号"
        # a step in another year starts that year's sequence
        e5 = _step("escalation-5", StepKind.escalation, date(2021, 1, 4), 2)
        assert enqueue_notice(s, a, e5, TO, NOW).notice_number == "督办〔2021〕0001号"
    with Session(jilin) as s:
        counters = {(c.prefix, c.year): c.last_number for c in s.exec(select(NoticeCounter))}
        assert counters == {("催办", 2020): 4, ("督办", 2020): 3, ("督办", 2021): 1}
        row = s.exec(select(OutboxMessage).where(OutboxMessage.notice_number == "督办〔2020〕0001号")).one()
        assert (row.step_key, row.kind, row.levels_up, row.status.value, row.scheduled_on) == (
            "escalation-1", "escalation", 1, "pending", date(2020, 6, 16))


def test_numbers_unique_and_gap_free_under_concurrency_pg(pg_url, calendar):
    from rollout.plans.fanout import instantiate_plan
    from rollout.plans.schema import BUNDLED_PLAN
    from tests.conftest import LOADED_AT

    engine = db.get_engine(pg_url)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    tasks = _catalog_tasks(engine, 160)
    workers = 8
    start = threading.Barrier(workers)
    errors: list[BaseException] = []
    written: list[OutboxMessage | None] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            start.wait()
            for t in tasks[i::workers]:
                # every worker also tries the first task: only one of them may write it
                for task in (t, tasks[0]):
                    with db.unit_of_work(engine) as s:
                        row = enqueue_notice(s, task, R10, TO, NOW)
                    with lock:
                        written.append(row)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    made = [r for r in written if r is not None]
    assert len(made) == 160
    with Session(engine) as s:
        numbers = sorted(s.exec(select(OutboxMessage.notice_number)).all())
    assert numbers == [format_notice_number("催办", 2020, n) for n in range(1, 161)]


def test_a_batch_with_rows_that_exist_keeps_the_numbers_gap_free(jilin):
    from rollout.notifications.notices import NoticeDraft, enqueue_drafts

    a, b, c, d = _catalog_tasks(jilin, 4)
    with db.unit_of_work(jilin) as s:
        assert enqueue_notice(s, b, R10, TO, NOW).notice_number == "催办〔2020〕0001号"
    with db.unit_of_work(jilin) as s:
        # b's row exists: 4 drafts take 4 numbers first, 3 rows go in, one number goes back
        done = enqueue_drafts(s, [NoticeDraft(t, R10, TO) for t in (a, b, c, d)], NOW)
        assert len(done.pending) == 3
    with Session(jilin) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(r.task_id, r.notice_number) for r in rows] == [
            (b.id, "催办〔2020〕0001号"), (a.id, "催办〔2020〕0002号"),
            (c.id, "催办〔2020〕0003号"), (d.id, "催办〔2020〕0004号")]
        counter = s.exec(select(NoticeCounter)).one()
        assert counter.last_number == 4
