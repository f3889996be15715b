"""Notifications: who is told (``recipients``), the numbered notices in the outbox (``notices``),
and, in their own modules, digests, message templates and delivery (SMTP, webhooks).

Import the submodules directly (``from rollout.notifications.notices import enqueue_notice``);
this package file imports nothing, so each part loads only what it needs.
"""
