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
from datetime import date
from typing import NamedTuple

from sqlmodel import Session, col, select

from rollout.deadlines import ChainLevel, escalation_target, recipient_levels
from rollout.errors import NotFound
from rollout.models import Channel, Contact, Domain, Organization, OrgKind, TrackedTask
from rollout.models.contact import WebhookKind
from rollout.plans.registry import former_superiors_on, offices_by_province


class Recipient(NamedTuple):
    """One address a notice goes to (immutable).

    ``org_code``: the organization urged (for a counterpart department, the county);
    ``domain_key``: set when it is a county's counterpart department of that domain;
    ``name``: display name in Chinese (e.g. ``南关区（城乡规划）``); ``channel`` / ``address``:
    an email address or a webhook URL; ``webhook_kind``: the webhook's message format.

    A named tuple, not a frozen dataclass: a sweep makes one per notice, and the dataclass's
    ``__init__`` (``object.__setattr__`` per field) cost 3.2 µs each, 0.24 s of the national
    day's 74,100 (cProfile).
    """

    org_code: str
    domain_key: str | None
    name: str
    channel: Channel
    address: str
    webhook_kind: WebhookKind | None = None


_EMAIL, _WEBHOOK = Channel.email, Channel.webhook
"""The channels, read once: an enum member looked up on its class costs 1.7 µs (``enum``'s
descriptor), once per notice."""

_OWNER_LEVELS: dict[str, ChainLevel] = {
    OrgKind.township: ChainLevel.township,
    OrgKind.city: ChainLevel.city,
    OrgKind.department: ChainLevel.provincial_department,
    OrgKind.office: ChainLevel.provincial_office,
}
"""The starting rung of each owner kind but the county (whose rung depends on the domain)."""


def owner_level(org: Organization | OrgRow, domain_key: str | None) -> ChainLevel:
    """The rung a task owned by ``org`` (with the task's ``domain_key``) starts on.

    Raises ``ValueError`` for an owner kind with no chain (none today; a new ``OrgKind``).
    """
    if org.kind == OrgKind.county:
        return ChainLevel.county_department if domain_key else ChainLevel.county_government
    if org.kind not in _OWNER_LEVELS:
        raise ValueError(f"{org.code}（{org.kind.value}）没有督办链")
    return _OWNER_LEVELS[org.kind]


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


_OWN_RUNGS = frozenset({ChainLevel.township, ChainLevel.county_department,
                        ChainLevel.provincial_department})
"""The rungs that are the owner itself with the task's domain."""


class RecipientResolver:
    """Resolves recipients against one session, caching organizations, contacts and superiors.

    Make one per unit of work (a sweep batch): it reads the registry and contacts once, so a
    contact changed after it was made is seen by the next one. ``org_codes``: the owners the
    caller will resolve for (a batch's tasks), read in one query; any other organization a chain
    reaches is read on first use (None: read the whole registry up front). The first city rung
    of a day reads that day's ``ParentPeriod`` rows and, in bulk, the superiors (and theirs) of
    the organizations read so far, not the whole registry (``superiors_on``: 41,741 rows, about
    30 ms a batch on the 1.2M-task bench database). Raises ``NotFound`` if the registry has no
    provincial office.

    Cost (bench/recipients.py, the 74,100 calls of the sweep of 2020-09-25 09:00+08:00):
    about 3.5 µs of CPU a call (6.5 µs before its caches), a third of it the garbage
    collector scanning the rows it returns (they stay alive in the caller).
    """

    def __init__(self, session: Session, org_codes: Iterable[str] | None = None) -> None:
        self.session = session
        self._orgs: dict[str, OrgRow] = {}
        if org_codes is None:
            self._orgs = {r[0]: OrgRow(*r) for r in session.execute(select(*_ORG_COLUMNS))}
        else:
            self._load(sorted(set(org_codes)))
        self._domain_names = {key: name for key, name in session.execute(
            select(Domain.key, Domain.name))}
        # Per (org code, domain key or None) of the active contacts, in id order: the first
        # email, and the first webhook (URL, kind), as the tiers of ``addresses`` read them.
        self._emails: dict[tuple[str, str | None], str] = {}
        self._hooks: dict[tuple[str, str | None], tuple[str, WebhookKind]] = {}
        contacts = select(Contact.org_code, Contact.domain_key, Contact.email, Contact.webhook_url,
                          Contact.webhook_kind).where(col(Contact.active)).order_by(Contact.id)
        for org_code, domain_key, email, url, kind in session.execute(contacts):
            if email:
                self._emails.setdefault((org_code, domain_key), email)
            if url:
                self._hooks.setdefault((org_code, domain_key), (url, kind or WebhookKind.generic))
        self._offices = offices_by_province(session)
        if not self._offices:
            raise NotFound("尚未载入机构名录：先运行 rollout init")
        self._periods: dict[date, dict[str, str]] = {}  # ``former_superiors_on`` per day
        # Fixed for the resolver's life: the rung ``levels_up`` above an owner of a kind (with
        # or without a domain), and the recipients of a unit itself (domain key None).
        self._targets: dict[tuple[str, bool, int], ChainLevel] = {}
        self._units: dict[str, list[Recipient]] = {}

    def _load(self, codes: list[str]) -> None:
        for i in range(0, len(codes), _LOAD_CHUNK):
            q = select(*_ORG_COLUMNS).where(col(Organization.code).in_(codes[i : i + _LOAD_CHUNK]))
            self._orgs.update((r[0], OrgRow(*r)) for r in self.session.execute(q))

    def _org(self, code: str) -> OrgRow:
        """The organization ``code`` (loaded on first use); ``KeyError`` if the registry lacks it."""
        org = self._orgs.get(code)
        if org is None:
            self._load([code])
            org = self._orgs[code]
        return org

    def chain(self, task: TrackedTask, on: date) -> list[tuple[str, str | None]]:
        """The task's escalation chain on local day ``on``: (org code, domain key or None) per
        rung, owner first, provincial office last (shape of ``recipient_levels``)."""
        owner = self._org(task.org_code)
        levels = recipient_levels(owner_level(owner, task.domain_key))
        return [self._rung(owner, task.domain_key, level, on) for level in levels]

    def _rung(self, owner: OrgRow, domain_key: str | None, level: ChainLevel,
              on: date) -> tuple[str, str | None]:
        office = self._offices.get(owner.province_code or owner.code[:2] + "0000")
        if office is None:
            raise NotFound(f"机构名录中没有省份 {owner.province} 的政务公开办（{owner.code}）")
        if level in _OWN_RUNGS:
            return owner.code, domain_key  # the counterpart department / township / department
        if level == ChainLevel.provincial_office:
            return office, None
        if level == ChainLevel.city:
            if owner.kind == OrgKind.city:
                return owner.code, None
            code = self._superior(owner.code, on)
            if owner.kind == OrgKind.township and code is not None:
                code = self._superior(code, on)  # township -> county -> city
            return code or office, None
        # the county government
        if owner.kind == OrgKind.township:
            return owner.parent_code or office, None
        return owner.code, None

    def _superior(self, code: str, on: date) -> str | None:
        """The superior of ``code`` on local day ``on`` (as ``superiors_on(session, on)
        .get(code)``): a ``ParentPeriod``'s, else its ``parent_code``; None if it has none."""
        periods = self._periods.get(on)
        if periods is None:
            periods = self._periods[on] = former_superiors_on(self.session, on)
            # the rows a city rung reaches next, in bulk: superiors and their superiors
            for _ in range(2):
                up = {o.parent_code for o in self._orgs.values() if o.parent_code}
                self._load(sorted(up.union(periods.values()).difference(self._orgs)))
        if code in periods:
            return periods[code]
        org = self._orgs.get(code)
        if org is None:
            self._load([code])
            org = self._orgs.get(code)
        if org is None or not org.parent_code:
            return None
        return org.parent_code

    def resolve(self, task: TrackedTask, levels_up: int, on: date) -> list[Recipient]:
        """The recipients of a notice ``levels_up`` rungs above ``task``'s owner on local day
        ``on``: one email row, then one webhook row when a contact has a webhook.
        ``levels_up`` beyond the top gives the top (the provincial office)."""
        owner = self._orgs.get(task.org_code) or self._org(task.org_code)
        domain_key = task.domain_key
        key = (owner.kind, bool(domain_key), levels_up)
        level = self._targets.get(key)
        if level is None:
            level = escalation_target(recipient_levels(owner_level(owner, domain_key)), levels_up)
            self._targets[key] = level
        return self.addresses(*self._rung(owner, domain_key, level, on))

    def addresses(self, org_code: str, domain_key: str | None) -> list[Recipient]:
        """Email (and webhook) recipients of ``org_code`` for ``domain_key`` (None: the unit
        itself), with the fallbacks of the module docstring."""
        if domain_key is not None:
            return self._recipients(org_code, domain_key)
        # A unit itself is the upper rung of many tasks: build its rows once. (A rung with a
        # domain is reached from one (owner, domain) only, which the sweep asks once: caching
        # those would only keep more objects alive for the garbage collector to scan.)
        found = self._units.get(org_code)
        if found is None:
            found = self._units[org_code] = self._recipients(org_code, None)
        return found.copy()

    def _recipients(self, org_code: str, domain_key: str | None) -> list[Recipient]:
        org = self._orgs.get(org_code) or self._org(org_code)
        name = org.name
        email = hook = None
        if domain_key:
            if domain_key in self._domain_names:
                name = f"{org.name}（{self._domain_names[domain_key]}）"
            email = self._emails.get((org_code, domain_key))
            hook = self._hooks.get((org_code, domain_key))
        email = email or self._emails.get((org_code, None)) or org.email or ""
        if hook is None:
            hook = self._hooks.get((org_code, None))
        mail = Recipient(org_code, domain_key, name, _EMAIL, email)
        if hook is None:
            return [mail]
        return [mail, Recipient(org_code, domain_key, name, _WEBHOOK, hook[0], hook[1])]
