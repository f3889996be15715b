"""SQLModel tables, one module per entity family; importing this package registers them all."""

from rollout.models.audit import AuditEvent
from rollout.models.contact import Contact, WebhookKind
from rollout.models.organization import (
    ORG_KIND_LABELS,
    Domain,
    Organization,
    OrgKind,
    ParentPeriod,
)
from rollout.models.outbox import (
    OUTBOX_STATUS_LABELS,
    Channel,
    Digest,
    DigestStatus,
    JobLease,
    NoticeCounter,
    OutboxMessage,
    OutboxStatus,
)
from rollout.models.plan import Milestone, Plan
from rollout.models.task import (
    DELIVERED_STATES,
    DONE_STATES,
    OPEN_STATES,
    TASK_STATE_LABELS,
    TaskState,
    TrackedTask,
)

__all__ = [
    "Channel",
    "Contact",
    "Digest",
    "DigestStatus",
    "JobLease",
    "NoticeCounter",
    "OUTBOX_STATUS_LABELS",
    "OutboxMessage",
    "OutboxStatus",
    "WebhookKind",
    "AuditEvent",
    "DELIVERED_STATES",
    "DONE_STATES",
    "Domain",
    "Milestone",
    "OPEN_STATES",
    "ORG_KIND_LABELS",
    "OrgKind",
    "Organization",
    "ParentPeriod",
    "Plan",
    "TASK_STATE_LABELS",
    "TaskState",
    "TrackedTask",
]
