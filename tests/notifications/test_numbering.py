"""Predicted notice numbers (``rollout.notifications.numbering``): the batches of one sweep write
at once, commit in turn, and the committed numbers stay gap-free and ascend with the ids.

Real PostgreSQL, real threads; the interleavings are forced with events, not sleeps.
"""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout import db
from rollout.models import NoticeCounter, OutboxMessage, TrackedTask
from rollout.notifications.notices import StepNotices, enqueue_notice, enqueue_step_notices
from rollout.notifications.numbering import NumberingRaced, NumberSequencer, TurnTimeout
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from tests.conftest import LOADED_AT
from tests.notifications.test_notices import NOW, R10, TO
from tests.sweep.test_concurrency import _seen

DUE = date(2020, 7, 1)


@pytest.fixture
def jilin_pg(pg_url, calendar) -> sa.Engine:
    engine = db.get_engine(pg_url)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    return engine


def _tasks(engine, n: int) -> list[TrackedTask]:
    with Session(engine) as s:
        return list(s.exec(select(TrackedTask).where(col(TrackedTask.key).startswith("catalog:"))
                           .order_by(TrackedTask.id).limit(n)))


def _notices(tasks: list[TrackedTask]) -> list[StepNotices]:
    return [StepNotices(tasks[0].plan_id, DUE, R10, [(t.id, TO) for t in tasks])]


def _rows(engine) -> list[tuple[int, str | None]]:
    """(task id, notice number) of every outbox row, in id order."""
    with Session(engine) as s:
        return [(r.task_id, r.notice_number)
                for r in s.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def _counter(engine) -> int:
    with Session(engine) as s:
        return s.exec(select(NoticeCounter.last_number)).one()


def _no(n: int) -> str:
    return f"催办〔2020〕{n:04d}号"


def test_the_second_batch_writes_before_the_first_commits_and_numbers_follow_it_pg(jilin_pg):
    t = _tasks(jilin_pg, 5)
    seq = NumberSequencer()
    first, second = seq.ticket(), seq.ticket()
    second_waits = threading.Event()
    wait_turn = second.wait_turn

    def noted_wait_turn() -> None:
        second_waits.set()  # its INSERT is done: it now waits for the first batch to commit
        wait_turn()

    second.wait_turn = noted_wait_turn  # type: ignore[method-assign]
    predicted_first = threading.Event()
    errors: list[BaseException] = []

    def batch_one() -> None:
        try:
            with db.unit_of_work(jilin_pg) as s:
                prediction = first.predict

                def noted_predict(*a, **k):
                    out = prediction(*a, **k)
                    predicted_first.set()
                    return out
                first.predict = noted_predict  # type: ignore[method-assign]
                enqueue_step_notices(s, _notices(t[:3]), NOW, first)
                # not committed until the second batch has written its rows
                assert second_waits.wait(30), "the second batch's INSERT waited for the first"
            first.end(committed=True)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            first.end(committed=False)
            errors.append(exc)

    def batch_two() -> None:
        try:
            assert predicted_first.wait(30)
            with db.unit_of_work(jilin_pg) as s:
                enqueue_step_notices(s, _notices(t[3:]), NOW, second)
            second.end(committed=True)
        except BaseException as exc:  # noqa: BLE001
            second.end(committed=False)
            errors.append(exc)

    threads = [threading.Thread(target=batch_two), threading.Thread(target=batch_one)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert _rows(jilin_pg) == [(task.id, _no(i)) for i, task in enumerate(t, start=1)]
    assert _counter(jilin_pg) == 5


def test_a_batch_that_finds_rows_existing_makes_the_next_renumber_down_pg(jilin_pg):
    t = _tasks(jilin_pg, 5)
    with db.unit_of_work(jilin_pg) as s:  # t[1]'s reminder exists: 催办 0001
        assert enqueue_notice(s, t[1], R10, TO, NOW).notice_number == _no(1)
    seq = NumberSequencer()
    first, second = seq.ticket(), seq.ticket()
    with db.unit_of_work(jilin_pg) as s1, db.unit_of_work(jilin_pg) as s2:
        # the first plans 3 rows (0002-0004), the second 2 (0005-0006), both written at once
        done = enqueue_step_notices(s1, [StepNotices(t[0].plan_id, t[1].due_on, R10,
                                                     [(x.id, TO) for x in t[:3]])], NOW, first)
        assert len(done.pending) == 2  # t[1]'s row exists: the first batch writes 2 of its 3
        s1.commit()
        first.end(committed=True)
        enqueue_step_notices(s2, [StepNotices(t[0].plan_id, t[3].due_on, R10,
                                              [(x.id, TO) for x in t[3:]])], NOW, second)
    rows = _rows(jilin_pg)
    assert rows == [(t[1].id, _no(1)), (t[0].id, _no(2)), (t[2].id, _no(3)),
                    (t[3].id, _no(4)), (t[4].id, _no(5))]
    assert _counter(jilin_pg) == 5


def test_a_batch_after_a_failed_one_takes_its_numbers_and_the_next_predicts_them_pg(jilin_pg):
    t = _tasks(jilin_pg, 6)
    seq = NumberSequencer()
    first, second, third = seq.ticket(), seq.ticket(), seq.ticket()
    with db.unit_of_work(jilin_pg) as s1, db.unit_of_work(jilin_pg) as s2:
        enqueue_step_notices(s1, _notices(t[:2]), NOW, first)  # predicted 0001-0002
        s1.rollback()
        first.end(committed=False)
        # predicted 0003-0004 while the first was in flight; renumbered down at its turn
        enqueue_step_notices(s2, _notices(t[2:4]), NOW, second)
    second.end(committed=True)
    with db.unit_of_work(jilin_pg) as s3:  # predicts after the failure: 0003, exact
        firsts, _ = third.predict(s3, {(t[0].plan_id, "催办", 2020): 2}, 2)
        assert firsts == {(t[0].plan_id, "催办", 2020): 3}
    third.end(committed=False)
    assert _rows(jilin_pg) == [(t[2].id, _no(1)), (t[3].id, _no(2))]
    assert _counter(jilin_pg) == 2


def test_turns_pass_in_ticket_order_even_when_a_later_ticket_ends_first():
    seq = NumberSequencer(turn_timeout_s=0.2)
    t0, t1, t2 = seq.ticket(), seq.ticket(), seq.ticket()
    t1.end(committed=False)
    with pytest.raises(TurnTimeout, match="第 3 批等候第 2 批超过 0.2 秒"):
        t2.wait_turn()  # t0 has not ended
    t0.end(committed=True)
    t2.wait_turn()
    t2.end(committed=True)
    t2.end(committed=True)  # idempotent


def test_numbers_taken_around_the_lock_roll_the_batch_back_pg(jilin_pg):
    t = _tasks(jilin_pg, 2)
    ticket = NumberSequencer().ticket()
    wait_turn = ticket.wait_turn

    def rogue_then_wait() -> None:  # a writer that ignores the numbering lock takes 0001-0002
        with db.unit_of_work(jilin_pg) as other:
            other.execute(sa.insert(NoticeCounter).values(
                plan_id=t[0].plan_id, prefix="催办", year=2020, last_number=2))
        wait_turn()

    ticket.wait_turn = rogue_then_wait  # type: ignore[method-assign]
    with pytest.raises(NumberingRaced, match="已被本次清扫以外的事务取用"):
        with db.unit_of_work(jilin_pg) as s:  # predicted 0001-0002, then the counter says 0003
            enqueue_step_notices(s, _notices(t), NOW, ticket)
    assert _rows(jilin_pg) == []
    assert _counter(jilin_pg) == 2


def test_a_sweep_waits_for_a_writer_holding_the_numbering_lock_pg(jilin_pg, calendar):
    from rollout.calendar import TZ
    from rollout.sweep import sweep_all

    june_16 = NOW.astimezone(TZ)
    outside = _tasks(jilin_pg, 1)[0]
    done: list = []
    with db.unit_of_work(jilin_pg) as s:
        assert enqueue_notice(s, outside, R10, TO, NOW).notice_number == _no(1)  # holds the lock
        sweeper = threading.Thread(target=lambda: done.append(
            sweep_all(lambda: db.unit_of_work(jilin_pg), june_16, calendar, batch_size=200,
                      workers=2)))
        sweeper.start()
        with jilin_pg.connect() as c:
            for _ in range(300):
                waiting = _seen(c, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type"
                                   " = 'Lock' AND wait_event = 'advisory' AND datname = "
                                   "current_database()")
                if waiting:
                    break
                time.sleep(0.1)
        assert waiting == 1 and sweeper.is_alive() and done == []
    sweeper.join()
    # the 1,623 due reminders of test_sweep.py, less the outside task's, which exists
    assert (done[0].tasks, done[0].created) == (1623, 1622)
    with Session(jilin_pg) as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.notice_number).startswith("催办"))
                      .order_by(OutboxMessage.id)).all()
    assert rows[0].task_id == outside.id
    assert [r.notice_number for r in rows] == [_no(i) for i in range(1, len(rows) + 1)]


def test_numbers_handed_back_never_reach_into_a_batch_still_in_flight_pg(jilin_pg):
    key = (_tasks(jilin_pg, 1)[0].plan_id, "催办", 2020)
    seq = NumberSequencer()
    a, b, c = seq.ticket(), seq.ticket(), seq.ticket()
    with db.read_session(jilin_pg) as s:
        assert a.predict(s, {key: 10})[0] == {key: 1}
        assert b.predict(s, {key: 5})[0] == {key: 11}
        a.end(committed=False)
        # not 1: b's rows numbered 11-15 are not committed, and c's INSERT would wait on them
        assert c.predict(s, {key: 2})[0] == {key: 16}
        b.settled = {key: 6}  # b took 1-5 at its turn (a wrote nothing)
        b.end(committed=True)
        c.settled = {key: 8}  # and c 6-7: the last to predict, so the next starts after it
        c.end(committed=True)
        assert seq.ticket().predict(s, {key: 1})[0] == {key: 8}


def test_a_batch_that_gave_up_its_turn_in_a_shared_plan_is_swept_again_pg(jilin_pg, calendar):
    # a flow run's provinces share one plan, and each sweeps one batch after another: a batch
    # that waited too long for another province's is swept again, not left for tomorrow
    from rollout.calendar import TZ
    from rollout.sweep import sweep_all

    seq = NumberSequencer(turn_timeout_s=0.5)
    other_province = seq.ticket()
    other_province.predict(None, {})
    threading.Timer(0.8, other_province.end, kwargs={"committed": True}).start()
    report = sweep_all(lambda: db.unit_of_work(jilin_pg), NOW.astimezone(TZ), calendar,
                       batch_size=5000, workers=1, numbering=seq)
    assert (report.created, report.batches) == (1623, 1)
    with Session(jilin_pg) as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.notice_number).startswith("催办"))
                      .order_by(OutboxMessage.id)).all()
    assert [r.notice_number for r in rows] == [_no(i) for i in range(1, len(rows) + 1)]
