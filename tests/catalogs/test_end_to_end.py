"""End to end through real Prefect flow runs on the loaded Jilin plan (SQLite and PostgreSQL):
南关区 (220102) imports its 26 catalogs → compile → review packet → 长春市 signs off → upload →
acceptance returns 社会救助 (one item lacks 公开时限) → correction → acceptance accepts.

Worked out by hand: the plan (吉政公组〔2020〕1号) gives catalog (accepted by the city), city_review
(no acceptor: submitting completes it), upload (no acceptor), acceptance (accepted by the
provincial office, due 12-01). The correction period is the plan file's 10 working days: returned
on Monday 2020-11-02 → Nov 3, 4, 5, 6, 9, 10, 11, 12, 13, 16 → due 2020-11-16 (no holiday in
November 2020). 长春市 has 11 counties today (10 + 公主岭市, moved from 四平市 in June 2020), so
its acceptance report covers 11 × 26 = 286 tasks.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime

import openpyxl
from sqlmodel import col, select

from rollout import db
from rollout.actions.reviews import sign_off
from rollout.calendar import TZ
from rollout.catalogs.guidelines import load_guideline
from rollout.catalogs.store import get_catalog, import_catalog
from rollout.flows.acceptance import accept_catalogs
from rollout.flows.compile import compile_catalogs
from rollout.flows.review import review_city
from rollout.models import (
    AuditEvent,
    CatalogVersion,
    Domain,
    Finding,
    FindingKind,
    FindingStatus,
    ReviewDecision,
    TaskState,
    TrackedTask,
)
from rollout.workflow import Action, Actor, Role, transition
from tests.catalogs.conftest import SOCIAL_ASSISTANCE, guideline_workbook

IMPORTED = datetime(2020, 6, 20, 10, 0, tzinfo=TZ)
COMPILED = datetime(2020, 6, 22, 9, 30, tzinfo=TZ)
REVIEWED = datetime(2020, 8, 20, 10, 0, tzinfo=TZ)
SIGNED = datetime(2020, 8, 25, 10, 0, tzinfo=TZ)
UPLOADED = datetime(2020, 9, 10, 10, 0, tzinfo=TZ)
SUBMITTED = datetime(2020, 10, 20, 10, 0, tzinfo=TZ)
FIRST_CHECK = datetime(2020, 11, 2, 10, 0, tzinfo=TZ)
CORRECTED = datetime(2020, 11, 5, 10, 0, tzinfo=TZ)
SECOND_CHECK = datetime(2020, 11, 6, 10, 0, tzinfo=TZ)
COUNTY = Actor("220102", Role.county, "张三")
CITY = Actor("220100", Role.city, "李四")
OFFICE = "220000.office"
MISSING_TIME_LIMIT = "第13项「临时救助 / 审核审批信息」缺少要素：公开时限"


def _names(session, domain: Domain) -> list[tuple[str, str]]:
    """A minimal valid item set: the guideline's items, or one well-formed item when the
    guideline lists none yet."""
    items = load_guideline(domain.key).items
    return [(g.level1, g.level2) for g in items] or [(f"{domain.name}政策文件", "政策法规文件")]


def _without_time_limit(data: bytes, row: int) -> bytes:
    """The workbook with the 公开时限 cell (column F) of sheet row ``row`` blanked."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active.cell(row=row, column=6).value = None
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _tasks(session, milestone: str) -> dict[str, TrackedTask]:
    rows = session.exec(select(TrackedTask).where(col(TrackedTask.key).startswith(f"{milestone}:220102")))
    return {t.domain_key or "": t for t in rows}


def _submit_all(engine, milestone: str, now: datetime, calendar) -> None:
    with db.unit_of_work(engine) as session:
        for t in _tasks(session, milestone).values():
            transition(session, t.id, Action.submit, COUNTY, now=now, calendar=calendar)


def test_compile_review_upload_acceptance_correction(jilin, db_url, calendar, prefect_harness):
    with db.unit_of_work(jilin) as session:
        domains = list(session.exec(select(Domain).order_by(Domain.position)))
        assert len(domains) == 26
        for d in domains:
            import_catalog(session, "220102", d.key, f"南关区{d.name}.xlsx",
                           guideline_workbook(_names(session, d), title=f"{d.name}目录"),
                           now=IMPORTED, actor="张三")

    compiled = compile_catalogs(county="220102", database_url=db_url, as_of=COMPILED.isoformat())
    assert (compiled["catalogs"], compiled["submitted"], compiled["left_open"]) == (26, 26, 0)

    review = review_city("长春市", database_url=db_url, as_of=REVIEWED.isoformat())
    assert (review["city"], review["counties"], review["complete"]) == ("220100", 11, 1)
    [mine] = [p for p in review["packets"] if p["county_code"] == "220102"]
    assert (mine["domains_total"], mine["domains_clean"], mine["open_findings"]) == (26, 26, 0)

    with db.unit_of_work(jilin) as session:
        [review_task] = [t for t in session.exec(
            select(TrackedTask).where(TrackedTask.key == "city_review:220102"))]
        sign_off(session, CITY, "220102", reviewer="李四", decision=ReviewDecision.approved, findings=[],
                 expected_version=review_task.version, now=SIGNED, calendar=calendar)
        # The upload: 社会救助 goes up as version 2, whose item 13 lacks 公开时限.
        import_catalog(session, "220102", "社会救助", "南关区社会救助v2.xlsx",
                       _without_time_limit(guideline_workbook(SOCIAL_ASSISTANCE), 3 + 13),
                       now=UPLOADED, actor="张三")
    _submit_all(jilin, "upload", UPLOADED, calendar)
    _submit_all(jilin, "acceptance", SUBMITTED, calendar)

    first = accept_catalogs(county="南关区", database_url=db_url, as_of=FIRST_CHECK.isoformat())
    assert (first["checked"], first["accepted"], first["returned"]) == (26, 25, 1)
    assert first["correction_working_days"] == 10
    [returned] = [o for o in first["outcomes"] if o["action"] == "returned"]
    assert (returned["task_key"], returned["version"], returned["new_due_on"], returned["findings"]) == (
        "acceptance:220102:social_assistance", 2, "2020-11-16", [MISSING_TIME_LIMIT])
    [report] = first["reports"]
    assert {k: report[k] for k in ("city", "tasks", "accepted", "returned", "submitted", "not_submitted")} == {
        "city": "220100", "tasks": 286, "accepted": 25, "returned": 1, "submitted": 0, "not_submitted": 260}
    assert report["findings"] == [{"county": "220102", "domain": "social_assistance",
                                   "kind": "bad_element", "message": MISSING_TIME_LIMIT}]
    with db.read_session(jilin) as session:
        task = _tasks(session, "acceptance")["social_assistance"]
        assert (task.state, task.due_on, task.original_due_on, task.times_returned) == (
            TaskState.returned, date(2020, 11, 16), date(2020, 12, 1), 1)
        [finding] = session.exec(select(Finding).where(Finding.status == FindingStatus.open)).all()
        assert (finding.kind, finding.element, finding.item_position, finding.message) == (
            FindingKind.bad_element, "time_limit", 13, MISSING_TIME_LIMIT)

    # Nothing submitted: a second run checks nothing.
    idle = accept_catalogs(city="220100", database_url=db_url, as_of=FIRST_CHECK.isoformat())
    assert (idle["checked"], idle["counties"]) == (0, 11)

    with db.unit_of_work(jilin) as session:
        import_catalog(session, "220102", "social_assistance", "南关区社会救助v3.xlsx",
                       guideline_workbook(SOCIAL_ASSISTANCE), now=CORRECTED, actor="张三")
        task = _tasks(session, "acceptance")["social_assistance"]
        transition(session, task.id, Action.submit, COUNTY, now=CORRECTED, calendar=calendar)

    second = accept_catalogs(city="220100", database_url=db_url, as_of=SECOND_CHECK.isoformat())
    assert (second["checked"], second["accepted"], second["returned"]) == (1, 1, 0)
    assert (second["outcomes"][0]["version"], second["outcomes"][0]["findings"]) == (3, [])
    [report] = second["reports"]
    assert (report["accepted"], report["returned"], report["findings"]) == (26, 0, [])

    with db.read_session(jilin) as session:
        for milestone, state in (("catalog", TaskState.accepted), ("upload", TaskState.accepted),
                                 ("acceptance", TaskState.accepted)):
            tasks = _tasks(session, milestone)
            assert len(tasks) == 26 and {t.state for t in tasks.values()} == {state}, milestone
        [rt] = session.exec(select(TrackedTask).where(TrackedTask.key == "city_review:220102")).all()
        assert rt.state == TaskState.accepted
        assert session.exec(select(Finding).where(Finding.status == FindingStatus.open)).all() == []
        catalog = get_catalog(session, "220102", "social_assistance")
        versions = session.exec(select(CatalogVersion).where(CatalogVersion.catalog_id == catalog.id)
                                .order_by(CatalogVersion.number)).all()
        assert [(v.number, v.accepted, v.accepted_at) for v in versions] == [
            (1, False, None), (2, False, None), (3, True, SECOND_CHECK)]
        accepted = session.exec(select(CatalogVersion).where(col(CatalogVersion.accepted).is_(True))).all()
        assert len(accepted) == 26

        task = _tasks(session, "acceptance")["social_assistance"]
        events = session.exec(select(AuditEvent).where(AuditEvent.task_id == task.id)
                              .order_by(col(AuditEvent.id))).all()
        assert [(e.kind, e.at, e.actor_org_code) for e in events] == [
            ("task_submitted", SUBMITTED, "220102"),
            ("task_returned", FIRST_CHECK, OFFICE),
            ("catalog_acceptance_checked", FIRST_CHECK, OFFICE),
            ("task_submitted", CORRECTED, "220102"),
            ("task_accepted", SECOND_CHECK, OFFICE),
            ("catalog_acceptance_checked", SECOND_CHECK, OFFICE),
        ]
        assert events[1].after == {"state": "returned", "due_on": "2020-11-16", "version": 3}
        assert MISSING_TIME_LIMIT in events[1].detail["note"]
        assert events[1].actor == "验收流程"

        catalog_task = _tasks(session, "catalog")["social_assistance"]
        events = session.exec(select(AuditEvent).where(AuditEvent.task_id == catalog_task.id)
                              .order_by(col(AuditEvent.id))).all()
        assert [(e.kind, e.at) for e in events] == [
            ("catalog_imported", IMPORTED), ("task_submitted", COMPILED), ("catalog_compiled", COMPILED),
            ("task_accepted", SIGNED), ("catalog_imported", UPLOADED), ("catalog_imported", CORRECTED),
        ]
        after_load = session.exec(select(AuditEvent.kind).where(AuditEvent.at >= IMPORTED)).all()
        # 26 + 2 imports; 26 compiles; submitted: 26 catalog + 1 review + 26 upload + 26 + 1
        # acceptance; accepted: 26 catalog (by the city) + 26 acceptance; 27 acceptance checks.
        assert Counter(after_load) == {
            "catalog_imported": 28, "catalog_compiled": 26, "task_submitted": 80,
            "task_accepted": 52, "task_returned": 1, "catalog_acceptance_checked": 27,
        }
