"""The transactional deadline sweep: due steps of open tasks become outbox rows, exactly once.

``sweep_all`` reads the ids of the due tasks once (``due_ids``), then sweeps them in batches of
``DEFAULT_BATCH_SIZE`` in id order, one unit of work each (the edges pass their unit of work);
``sweep_tasks`` is one batch in the caller's transaction.

Per task (DESIGN.md "Sweep"; issue 3, item 3):

- Selected: state pending / in_progress / returned, and its schedule's (``TaskSchedule``)
  ``next_action_at <= now``, or no ``next_action_at`` but a ``schedule_note`` (waiting for holiday data: retried every sweep, so a
  task proceeds as soon as the year's data is there). Submitted, accepted, waived and cancelled
  tasks get nothing.
- Due: the steps of its schedule (``rollout.deadlines.iter_steps``, the rule of ``due_steps``)
  with cursor < at <= now, the cursor being ``next_action_at`` (inclusive) or, for a waiting
  task, the later of ``last_step_at`` and ``submitted_at``. The latest due step is written as a
  pending numbered notice to its recipients (``rollout.notifications``), the earlier ones as
  ``skipped`` rows (the system was down: record, don't send).
- The schedule's ``next_action_at`` moves to the first step after ``now``; ``last_step_key`` /
  ``last_step_at`` to the latest due step. A schedule reaching a year without holiday data
  (``MissingHolidayData``) sends what it could compute, sets ``next_action_at`` None and
  ``schedule_note`` "等待节假日数据（YYYY年）", and is reported; the rest of the batch goes on.

Set-based, per batch (issue 6, item 2). Tasks of one milestone with the same due day,
``next_action_at``, reload cursor and note get the same decision (``decision_key``), so
``decide`` runs once per group (a day's 50,000 due tasks make a handful of groups) and each group
is advanced by one UPDATE of the narrow ``taskschedule`` (migration 0017); the outbox rows of a step go in as one multi-row INSERT per chunk
(``rollout.notifications.notices.enqueue_step_notices``). The id selects are served by partial
indexes (``ix_taskschedule_due``, ``ix_trackedtask_waiting``; migrations 0013, 0017;
``due_queries``);
each batch then reads its rows by primary key (``select_tasks``).
``province_code`` limits a batch to the tasks owned in one province (the flow sweeps provinces
side by side).

Lost updates. On PostgreSQL (READ COMMITTED) a batch first locks its tasks' rows in id order
with ``SELECT … WHERE state IN (open) ORDER BY id FOR NO KEY UPDATE`` (``lock_open``): a task
a unit submitted after the sweep read it is re-read under the lock, found closed, and left out,
so no notice goes out for it. Each group's UPDATE is then conditional on what the sweep read:
``WHERE task_id IN (:held ids) AND next_action_at = :read`` (``IS NULL`` for a waiting task)
``RETURNING task_id``; a second sweep running at once finds ``next_action_at`` moved and writes
nothing. The UPDATE runs first; outbox rows are written only for the ids it returned. Every other
writer of a schedule holds the task row first (``rollout.schedules``), and the group UPDATEs run
on rows already held, so concurrent sweeps, and writers that lock in id order, cannot deadlock
with one batch. A writer that holds a row of one batch and waits for a row of the next (a
calendar reload locks in id order) can hold back the batches of a sweep, which take their turns
in Python (``rollout.notifications.numbering``), where the deadlock detector cannot see; the
waiting batch gives up after ``TURN_TIMEOUT_S`` and is swept again alone. On SQLite every write
transaction starts with ``BEGIN IMMEDIATE`` (``rollout.db``), so the read and the write already
see one state.

Exactly once and gap-free: the outbox's UNIQUE (task, due day, step, channel) with ``ON CONFLICT
DO NOTHING``, and notice numbers taken in the same transaction (``rollout.notifications.notices``).
On PostgreSQL a sweep holds the numbering lock for its whole run; its batches write their rows at
once with predicted numbers and commit in batch order (``rollout.notifications.numbering``).

``version`` is not bumped: it is the optimistic-concurrency token of user transitions
(``rollout.workflow``); a schedule-only change must not make a clerk's transition fail with 409.
The conditional UPDATE above is the sweep's own guard. Domain functions: they take a
``Session`` and never commit; ``now`` is an aware datetime passed in.
"""

from rollout.sweep.batch import (
    DEFAULT_BATCH_SIZE,
    SweepReport,
    advance,
    due_ids,
    due_queries,
    lock_open,
    select_tasks,
    sweep_all,
    sweep_tasks,
)
from rollout.sweep.decide import TaskOutcome, decide, decision_key, reload_cursor, waiting_note
from rollout.sweep.reproject import ReloadReport, reproject

__all__ = [
    "DEFAULT_BATCH_SIZE", "ReloadReport", "SweepReport", "TaskOutcome", "advance", "decide",
    "decision_key", "due_ids", "due_queries", "lock_open", "reload_cursor", "reproject", "select_tasks",
    "sweep_all", "sweep_tasks", "waiting_note",
]
