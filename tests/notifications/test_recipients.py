"""Recipients along the escalation chain (DESIGN.md), with per-domain and general contacts.

Registry facts used (rollout/plans/data/jilin-registry.yaml): 公主岭市 220184 was under 四平市
220300 until 2020-06-15 and is under 长春市 220100 since; fiscal_budget (财政预决算) belongs to
the finance department 220000.dept.finance; the office is 220000.office; bundled addresses are
gk-<code>@example.org.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import (
    Channel,
    Contact,
    Domain,
    Organization,
    OrgKind,
    ParentPeriod,
    TrackedTask,
)
from rollout.models.contact import WebhookKind
from rollout.notifications.recipients import Recipient, RecipientResolver
from rollout.plans.fanout import instantiate_plan
from rollout.plans.registry import superiors_on
from tests.conftest import BUNDLED_PLAN, LOADED_AT

DAY = date(2020, 6, 16)


def _task(s: Session, key: str) -> TrackedTask:
    return s.exec(select(TrackedTask).where(TrackedTask.key == key)).one()


def _one(resolver, task, levels_up, on=DAY):
    rows = resolver.resolve(task, levels_up, on)
    assert len(rows) == 1 and rows[0].channel == Channel.email
    return rows[0].org_code, rows[0].domain_key, rows[0].address


def test_county_domain_chain_without_contacts(jilin):
    with Session(jilin) as s:
        r = RecipientResolver(s)
        t = _task(s, "catalog:220184:fiscal_budget")
        assert _one(r, t, 0) == ("220184", "fiscal_budget", "gk-220184@example.org")
        assert r.resolve(t, 0, DAY)[0].name == "公主岭市（财政预决算）"
        assert _one(r, t, 1) == ("220184", None, "gk-220184@example.org")
        assert _one(r, t, 2) == ("220100", None, "gk-220100@example.org")
        assert _one(r, t, 2, date(2020, 6, 14)) == ("220300", None, "gk-220300@example.org")
        assert _one(r, t, 3) == ("220000.office", None, "gk-office@example.org")
        assert _one(r, t, 7) == ("220000.office", None, "gk-office@example.org")


def test_city_and_department_chains(jilin):
    with Session(jilin) as s:
        r = RecipientResolver(s)
        city = _task(s, "city_filing:220100")
        assert [_one(r, city, k)[0] for k in range(3)] == ["220100", "220000.office", "220000.office"]
        dept = _task(s, "work_plan:fiscal_budget")
        assert [_one(r, dept, k)[0] for k in range(2)] == ["220000.dept.finance", "220000.office"]
        review = _task(s, "city_review:220102")  # owned by the county's city
        assert [_one(r, review, k)[0] for k in range(2)] == ["220100", "220000.office"]


def test_domain_contact_then_general_contact_then_org_email(jilin):
    with db.unit_of_work(jilin) as s:
        s.add(Contact(org_code="220102", domain_key="fiscal_budget", name="张三",
                      email="cz@nanguan.example.org", webhook_url="https://hook.example.org/cz",
                      webhook_kind=WebhookKind.wecom))
        s.add(Contact(org_code="220102", name="办公室", email="bgs@nanguan.example.org"))
        s.add(Contact(org_code="220102", domain_key="work_safety", name="停用", active=False,
                      email="old@nanguan.example.org"))
    with Session(jilin) as s:
        r = RecipientResolver(s)
        fiscal = _task(s, "catalog:220102:fiscal_budget")
        rows = r.resolve(fiscal, 0, DAY)
        assert [(x.channel, x.address) for x in rows] == [
            (Channel.email, "cz@nanguan.example.org"),
            (Channel.webhook, "https://hook.example.org/cz"),
        ]
        assert rows[1].webhook_kind == WebhookKind.wecom
        # the county government (level 1) is the general contact, not the domain's
        assert _one(r, fiscal, 1)[2] == "bgs@nanguan.example.org"
        # another domain (and an inactive domain contact) falls back to the general contact
        safety = _task(s, "catalog:220102:work_safety")
        assert _one(r, safety, 0)[2] == "bgs@nanguan.example.org"
        # a county without contacts: the organization's own address
        assert _one(r, _task(s, "catalog:220103:work_safety"), 0)[2] == "gk-220103@example.org"


@pytest.mark.parametrize("levels_up", [0, 1])
def test_contacts_are_read_when_the_resolver_is_made(jilin, levels_up):
    with Session(jilin) as s:
        before = RecipientResolver(s)
        t = _task(s, "catalog:220102:fiscal_budget")
    with db.unit_of_work(jilin) as s:
        s.add(Contact(org_code="220102", name="新联络员", email="new@nanguan.example.org"))
    with Session(jilin) as s:
        assert _one(before, t, levels_up)[2] == "gk-220102@example.org"
        assert _one(RecipientResolver(s), t, levels_up)[2] == "new@nanguan.example.org"


# -- two provinces (tests/data/two_provinces: 110000 with county 110101 under 110100; 220000
#    with county 220102 under 220100 and its townships 220102001, 220102101) ------------------

TWO_PROVINCES = Path(__file__).parents[1] / "data" / "two_provinces" / "plan.yaml"


@pytest.fixture
def two(engine, calendar):
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, TWO_PROVINCES, now=datetime(2020, 3, 20, 9, 0, tzinfo=TZ),
                         calendar=calendar)
    return engine


def test_escalation_tops_at_the_office_of_the_owners_province(two):
    with Session(two) as s:
        r = RecipientResolver(s)
        county_b = _task(s, "catalog:110101:social_assistance")
        assert [_one(r, county_b, k)[0] for k in range(5)] == [
            "110101", "110101", "110100", "110000.office", "110000.office"]
        assert _one(r, county_b, 3)[2] == "b-office@example.org"
        county_a = _task(s, "acceptance:220103:social_assistance")
        assert _one(r, county_a, 3)[0] == "220000.office"
        dept_b = _task(s, "work_plan:110000:compulsory_education")
        assert [_one(r, dept_b, k)[:2] for k in range(2)] == [
            ("110000.dept.education", "compulsory_education"), ("110000.office", None)]
        assert _one(r, dept_b, 0)[2] == "b-edu@example.org"
        assert _one(r, _task(s, "training:110000"), 0)[0] == "110000.office"


def test_township_chain_is_township_county_city_office(two):
    with Session(two) as s:
        r = RecipientResolver(s)
        town = _task(s, "township_catalog:220102001:social_assistance")
        assert r.chain(town, DAY) == [
            ("220102001", "social_assistance"), ("220102", None), ("220100", None),
            ("220000.office", None)]
        assert [_one(r, town, k)[2] for k in range(4)] == [
            "a-220102001@example.org", "a-220102@example.org", "a-220100@example.org",
            "a-office@example.org"]
        assert r.resolve(town, 0, DAY)[0].name == "甲一街道（社会救助）"
        # a township without its own address: the placeholder the registry loader gives
        other = _task(s, "township_catalog:220102101:compulsory_education")
        assert _one(r, other, 0)[2] == "gk-220102101@example.org"


# -- every task against a plain rereading of the module docstring ---------------------------


def _reference(s: Session):
    """``resolve`` rewritten from the module docstring, without the resolver's caches: ORM
    objects, contacts scanned in id order, superiors read per day (``superiors_on``)."""
    orgs = {o.code: o for o in s.exec(select(Organization))}
    domains = {d.key: d.name for d in s.exec(select(Domain))}
    contacts = [c for c in s.exec(select(Contact).order_by(Contact.id)) if c.active]
    offices = {o.province: o.code for o in orgs.values() if o.kind == OrgKind.office}
    ups: dict[date, dict[str, str]] = {}

    def chain(task, on):
        o, d = orgs[task.org_code], task.domain_key
        office = offices[o.province]
        if on not in ups:
            ups[on] = superiors_on(s, on)
        up = ups[on]
        if o.kind == OrgKind.county:
            return ([(o.code, d)] if d else []) + [
                (o.code, None), (up.get(o.code) or office, None), (office, None)]
        if o.kind == OrgKind.township:
            county = up.get(o.code)
            city = up.get(county) if county else None
            return [(o.code, d), (o.parent_code or office, None), (city or office, None),
                    (office, None)]
        if o.kind == OrgKind.city:
            return [(o.code, None), (office, None)]
        if o.kind == OrgKind.department:
            return [(o.code, d), (office, None)]
        return [(office, None)]

    def addresses(code, d):
        o = orgs[code]
        name = f"{o.name}（{domains[d]}）" if d in domains else o.name
        tiers = [c for c in contacts if d and (c.org_code, c.domain_key) == (code, d)]
        tiers += [c for c in contacts if (c.org_code, c.domain_key) == (code, None)]
        email = next((c.email for c in tiers if c.email), None) or o.email or ""
        rows = [Recipient(code, d, name, Channel.email, email)]
        hook = next((c for c in tiers if c.webhook_url), None)
        if hook is not None:
            rows.append(Recipient(code, d, name, Channel.webhook, hook.webhook_url,
                                  hook.webhook_kind or WebhookKind.generic))
        return rows

    def resolve(task, levels_up, on):
        rungs = chain(task, on)
        return addresses(*rungs[min(levels_up, len(rungs) - 1)])

    return resolve


@pytest.mark.parametrize("registry", ["jilin", "two"])
def test_every_task_resolves_as_the_docstring_says(registry, engine, calendar):
    """Townships (two), a former superior (jilin: 公主岭市), contacts of every kind; the resolver
    answers many calls, so its caches are crossed by other days, rungs and levels."""
    plan, county, town = ((BUNDLED_PLAN, "220102", "220102") if registry == "jilin"
                          else (TWO_PROVINCES, "220102", "220102001"))
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, plan, now=LOADED_AT, calendar=calendar)
    with db.unit_of_work(engine) as s:
        domain = s.exec(select(TrackedTask.domain_key).where(
            TrackedTask.org_code == town, col(TrackedTask.domain_key).is_not(None))).first()
        s.add_all([
            Contact(org_code=town, domain_key=domain, name="甲", email="d@x.example.org",
                    webhook_url="https://hook.example.org/d", webhook_kind=WebhookKind.wecom),
            Contact(org_code=town, domain_key=domain, name="乙", email="d2@x.example.org",
                    webhook_url="https://hook.example.org/d2"),
            Contact(org_code=county, name="丙", webhook_url="https://hook.example.org/g"),
            Contact(org_code=county, name="丁", email="g@x.example.org"),
            Contact(org_code=county, domain_key=domain, name="停用", active=False,
                    email="old@x.example.org", webhook_url="https://hook.example.org/old"),
            Contact(org_code="220100", name="戊", email="", webhook_url="https://hook.example.org/c",
                    webhook_kind=WebhookKind.dingtalk),
        ])
        if registry == "two":  # on 06-14: 甲一街道 under 甲二区, then under 乙市市辖区
            s.add_all([
                ParentPeriod(org_code=town, parent_code="220103", until_on=date(2020, 6, 15)),
                ParentPeriod(org_code="220103", parent_code="220100", until_on=date(2020, 6, 30)),
                ParentPeriod(org_code="220103", parent_code="110100", until_on=date(2020, 6, 15)),
            ])
    with Session(engine) as s:
        tasks = s.exec(select(TrackedTask).order_by(TrackedTask.id)).all()
        expected = _reference(s)
        resolver = RecipientResolver(s, {t.org_code for t in tasks[::2]})
        days = [DAY, date(2020, 6, 14)]  # 公主岭市 under 长春市, then under 四平市 (jilin)
        wrong = [(t.key, k, on) for on in days for t in tasks for k in range(5)
                 if repr(resolver.resolve(t, k, on)) != repr(expected(t, k, on))]
        assert wrong == [] and len(tasks) > 20
        if registry == "two":
            assert resolver.chain(_task(s, f"township_catalog:{town}:{domain}"), days[1])[2] == (
                "110100", None)
        assert {r.address for k in range(4) for r in resolver.resolve(
            s.exec(select(TrackedTask).where(TrackedTask.org_code == town,
                                             TrackedTask.domain_key == domain)).first(), k, DAY)
        } >= {"d@x.example.org", "https://hook.example.org/d", "g@x.example.org",
              "https://hook.example.org/g", "https://hook.example.org/c"}
        # a caller changing a returned list changes no later answer
        resolver.addresses(county, None).clear()
        assert [r.address for r in resolver.addresses(county, None)] == [
            "g@x.example.org", "https://hook.example.org/g"]
