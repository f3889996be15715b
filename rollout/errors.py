"""The project's exception types (a leaf module: imports nothing of rollout).

Every error carries a message a clerk can act on (simplified Chinese where a person reads it,
English detail for the log) and, where it helps, a machine ``code``.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Base of every error rollout raises on purpose.

    ``code`` is a stable machine-readable key (e.g. ``"plan_invalid"``); ``str(err)`` is the message.
    """

    code = "rollout_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class PlanError(RolloutError):
    """A plan or registry file is unreadable or invalid; the message names the file and field."""

    code = "plan_invalid"


class MissingHolidayData(RolloutError):
    """The working-day calendar has no data for ``year``.

    Raised instead of silently treating the year as weekends-only. ``hint`` names the override
    file to add (e.g. ``rollout/calendar/holidays/2027.yaml``).
    """

    code = "holiday_data_missing"

    def __init__(self, year: int, hint: str) -> None:
        super().__init__(f"没有{year}年的节假日数据：请添加 {hint}（国务院办公厅当年节假日安排通知）")
        self.year = year
        self.hint = hint


class NotFound(RolloutError):
    """A named thing (task, organization, milestone) does not exist, or is not visible to you."""

    code = "not_found"


class TransitionError(RolloutError):
    """A task state transition that the state machine does not allow from the current state."""

    code = "transition_not_allowed"


class PermissionDenied(RolloutError):
    """The actor's role or organization may not make this change."""

    code = "permission_denied"


class RequirementsPending(RolloutError):
    """The task requires other tasks to be done first; ``waiting_for`` lists them (plan ``requires``)."""

    code = "requirements_pending"

    def __init__(self, message: str, waiting_for: list[str]) -> None:
        super().__init__(message)
        self.waiting_for = waiting_for


class StaleVersion(RolloutError):
    """Optimistic concurrency: the caller saw an older version of the row than is stored."""

    code = "stale_version"


class InvalidInput(RolloutError):
    """A value a person gave is malformed or out of range; ``field`` names it (e.g.
    ``document_number``) so the form can point at it."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class NotAuthenticated(RolloutError):
    """No credentials, or an unknown, expired or revoked API token."""

    code = "not_authenticated"


class TooLarge(RolloutError):
    """An upload or form field is larger than the configured limit (bytes)."""

    code = "too_large"


class UnsupportedDocument(RolloutError):
    """An uploaded file's bytes are not one of the accepted document types (PDF, OFD, DOC, DOCX…)."""

    code = "unsupported_document"


class CatalogImportError(RolloutError):
    """A catalog file cannot be read; the message names the file or sheet, row and column.

    Raised before anything is written, so nothing is half-imported.
    """

    code = "catalog_unreadable"
