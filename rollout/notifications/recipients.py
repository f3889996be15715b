"""Who receives a task step's notice: the escalation chain resolved to addresses.

Resolved when the notice is made (DESIGN.md, "Escalation chain": "Recipients are resolved when a
notice is sent, not when the task was made"), so whoever is the contact that day receives it.

The chain of a task (``rollout.deadlines.recipient_levels`` gives the rungs, index = ``levels_up``,
``escalation_target`` clamps at the top):

- county × domain task (owner a county, ``domain_key`` set): level 0 the county's counterpart
  department for the domain (the county's contacts for that domain), 1 the county government
  (the county's own contacts), 2 the city (the county's superior on the step day), 3 the
  provincial office;
- township task (owner a township, e.g. ``township_catalog`` over [township, domain]): level 0
  the township (its contacts for the task's domain), 1 the county government (the township's
  superior), 2 the city (the county's superior on the step day), 3 the provincial office;
- county task without domain: county → city → office; city task: city → office;
  department task: department → office; office task: office.

The provincial office at the top is the office of the owner's province
(``Organization.province_code``), so in a multi-province registry a county of 吉林 escalates to
吉林's office, never another province's.

Addresses per rung (organization, domain):

- email: an active ``Contact`` of the organization for the domain with an email, else an
  active general contact (``domain_key`` None) with an email, else ``Organization.email``
  (an empty address when there is none at all: the row is still written, as the record);
- webhook: an active contact for the domain with a ``webhook_url``, else an active general one;
  none: no webhook row. Several matching contacts: the lowest id wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from sqlmodel import Session, col, select

from rollout.deadlines import ChainLevel, escalation_target, recipient_levels
from rollout.errors import NotFound
from rollout.models import Channel, Contact, Domain, Organization, OrgKind, TrackedTask
from rollout.models.contact import WebhookKind
from rollout.plans.registry import offices_by_province, superiors_on


@dataclass(frozen=True, slots=True)
class Recipient:
    """One address a notice goes to.

    ``org_code``: the organization urged (for a counterpart department, the county);
    ``domain_key``: set when it is a county's counterpart department of that domain;
    ``name``: display name in Chinese (e.g. ``南关区（城乡规划）``); ``channel`` / ``address``:
    an email address or a webhook URL; ``webhook_kind``: the webhook's message format.
    """

    org_code: str
    domain_key: str | None
    name: str
    channel: Channel
    address: str
    webhook_kind: WebhookKind | None = None


def owner_level(org: Organization | OrgRow, domain_key: str | None) -> ChainLevel:
    """The rung a task owned by ``org`` (with the task's ``domain_key``) starts on.

    Raises ``ValueError`` for an owner kind with no chain (none today; a new ``OrgKind``).
    """
    if org.kind == OrgKind.county:
        return ChainLevel.county_department if domain_key else ChainLevel.county_government
    levels = {
        OrgKind.township: ChainLevel.township,
        OrgKind.city: ChainLevel.city,
        OrgKind.department: ChainLevel.provincial_department,
        OrgKind.office: ChainLevel.provincial_office,
    }
    if org.kind not in levels:
        raise ValueError(f"{org.code}（{org.kind.value}）没有督办链")
    return levels[org.kind]


class OrgRow(NamedTuple):
    """The columns of ``Organization`` the chain needs, read as a plain row: building 40,000 ORM
    objects per sweep batch cost seconds at national scale (bench/run.py, issue 6)."""

    code: str
    name: str
    kind: OrgKind
    parent_code: str | None
    email: str | None
    province_code: str | None

    @property
    def province(self) -> str:
        """As ``Organization.province``: ``province_code``, else the code's first two digits + 0000."""
        return self.province_code or self.code[:2] + "0000"


_LOAD_CHUNK = 5_000
_ORG_COLUMNS = (Organization.code, Organization.name, Organization.kind, Organization.parent_code,
                Organization.email, Organization.province_code)


class RecipientResolver:
    """Resolves recipients against one session, caching organizations, contacts and superiors.

    Make one per unit of work (a sweep batch): it reads the registry and contacts once, so a
    contact changed after it was made is seen by the next one. ``org_codes``: the owners the
    caller will resolve for (a batch's tasks), read in one query; any other organization a chain
    reaches is read on first use (None: read the whole registry up front). Raises ``NotFound``
    if the registry has no provincial office.
    """

    def __init__(self, session: Session, org_codes: Iterable[str] | None = None) -> None:
        self.session = session
        self._orgs: dict[str, OrgRow] = {}
        if org_codes is None:
            self._orgs = {r[0]: OrgRow(*r) for r in session.execute(select(*_ORG_COLUMNS))}
        else:
            self._load(sorted(set(org_codes)))
        self._domains = {d.key: d for d in session.exec(select(Domain))}
        self._contacts: dict[tuple[str, str | None], list[Contact]] = {}
        for c in session.exec(select(Contact).where(col(Contact.active)).order_by(Contact.id)):
            self._contacts.setdefault((c.org_code, c.domain_key), []).append(c)
        self._offices = offices_by_province(session)
        if not self._offices:
            raise NotFound("尚未载入机构名录：先运行 rollout init")
        self._superiors: dict[date, dict[str, str]] = {}

    def _load(self, codes: list[str]) -> None:
        for i in range(0, len(codes), _LOAD_CHUNK):
            q = select(*_ORG_COLUMNS).where(col(Organization.code).in_(codes[i : i + _LOAD_CHUNK]))
            self._orgs.update((r[0], OrgRow(*r)) for r in self.session.execute(q))

    def _org(self, code: str) -> OrgRow:
        """The organization ``code`` (loaded on first use); ``KeyError`` if the registry lacks it."""
        if code not in self._orgs:
            self._load([code])
        return self._orgs[code]

    def chain(self, task: TrackedTask, on: date) -> list[tuple[str, str | None]]:
        """The task's escalation chain on local day ``on``: (org code, domain key or None) per
        rung, owner first, provincial office last (shape of ``recipient_levels``)."""
        owner = self._org(task.org_code)
        levels = recipient_levels(owner_level(owner, task.domain_key))
        return [self._rung(task, level, on) for level in levels]

    def _rung(self, task: TrackedTask, level: ChainLevel, on: date) -> tuple[str, str | None]:
        owner = self._org(task.org_code)
        office = self._offices.get(owner.province)
        if office is None:
            raise NotFound(f"机构名录中没有省份 {owner.province} 的政务公开办（{owner.code}）")
        if level == ChainLevel.provincial_office:
            return office, None
        if level == ChainLevel.city:
            if owner.kind == OrgKind.city:
                return owner.code, None
            if on not in self._superiors:
                self._superiors[on] = superiors_on(self.session, on)
            up = self._superiors[on]
            code = up.get(owner.code)
            if owner.kind == OrgKind.township and code is not None:
                code = up.get(code)  # township -> county -> city
            return code or office, None
        if level == ChainLevel.county_government:
            if owner.kind == OrgKind.township:
                return owner.parent_code or office, None
            return owner.code, None
        return owner.code, task.domain_key  # the counterpart department / township / department

    def resolve(self, task: TrackedTask, levels_up: int, on: date) -> list[Recipient]:
        """The recipients of a notice ``levels_up`` rungs above ``task``'s owner on local day
        ``on``: one email row, then one webhook row when a contact has a webhook.
        ``levels_up`` beyond the top gives the top (the provincial office)."""
        owner = self._org(task.org_code)
        levels = recipient_levels(owner_level(owner, task.domain_key))
        return self.addresses(*self._rung(task, escalation_target(levels, levels_up), on))

    def addresses(self, org_code: str, domain_key: str | None) -> list[Recipient]:
        """Email (and webhook) recipients of ``org_code`` for ``domain_key`` (None: the unit
        itself), with the fallbacks of the module docstring."""
        org = self._org(org_code)
        name = org.name
        if domain_key and domain_key in self._domains:
            name = f"{org.name}（{self._domains[domain_key].name}）"
        tiers = [self._contacts.get((org_code, domain_key), [])] if domain_key else []
        tiers.append(self._contacts.get((org_code, None), []))
        email = next((c.email for tier in tiers for c in tier if c.email), None)
        out = [Recipient(org_code, domain_key, name, Channel.email, email or org.email or "")]
        hook = next((c for tier in tiers for c in tier if c.webhook_url), None)
        if hook is not None:
            out.append(
                Recipient(org_code, domain_key, name, Channel.webhook, hook.webhook_url or "",
                          hook.webhook_kind or WebhookKind.generic)
            )
        return out
