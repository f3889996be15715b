"""Settings from the environment (prefix ``ROLLOUT_``) and an optional ``.env`` file.

A leaf module: imports nothing of rollout.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration.

    ``database_url``: SQLAlchemy URL; default a SQLite file ``rollout.db`` in the working directory.
    ``timezone``: IANA name of the plan's local time; all ``_on`` dates are days in it.
    ``holiday_dirs``: extra folders of holiday override files (``YYYY.yaml``), searched before the
    ones bundled in the package.
    ``smtp_*`` / ``mail_*`` / ``webhook_*`` / ``dispatch_*``: the outbox dispatcher
    (``rollout.notifications.dispatch.DispatchConfig``): digests per batch, connections in
    flight at once, rate in messages per second, backoff
    ``base * 2**(attempts-1)`` capped, a claim lease, and a settle delay after a row is written
    before it is put in a digest (so a sweep committing in batches yields one digest per day).
    """

    model_config = SettingsConfigDict(env_prefix="ROLLOUT_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///rollout.db"
    timezone: str = "Asia/Shanghai"
    holiday_dirs: list[Path] = Field(default_factory=list)
    #: Stops the web app's clock at this time (``rollout serve --demo --as-of``); None: real time.
    frozen_now: datetime | None = None

    # HTTP API (rollout.api): file store folder (files named by SHA-256), the upload size limit
    # in bytes (413 above it) and the size limit of one multipart text field in bytes.
    file_store_dir: Path = Path("var/files")
    max_upload_bytes: int = 20 * 1024 * 1024
    max_form_field_bytes: int = 1024 * 1024

    # Web pages (rollout.api.pages): how long a login lasts (hours), and whether the session
    # cookie is marked Secure (None: when the request came over https, e.g. via the proxy's
    # X-Forwarded-Proto with uvicorn --proxy-headers).
    web_session_hours: float = Field(default=12.0, gt=0)
    web_cookie_secure: bool | None = None

    # Mail and webhook delivery (rollout.notifications). No smtp_host: mail stays in the outbox.
    smtp_host: str | None = None
    smtp_port: int | None = None  # default 465 with smtp_ssl, 587 with smtp_starttls, else 25
    smtp_starttls: bool | None = None  # None: upgrade when the server offers STARTTLS
    smtp_ssl: bool = False  # implicit TLS from the first byte (port 465)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "gk-notice@example.org"
    mail_from_name: str = "政务公开办"
    message_id_domain: str = "rollout.invalid"
    webhook_timeout_seconds: float = 10.0
    dispatch_batch_size: int = Field(default=200, ge=1)
    # messages in flight at once: SMTP connections (each reused) and webhook requests
    dispatch_connections: int = Field(default=8, ge=1, le=64)
    dispatch_rate_per_second: float = Field(default=10.0, gt=0)
    dispatch_max_attempts: int = Field(default=8, ge=1)
    dispatch_backoff_base_seconds: float = Field(default=60.0, gt=0)
    dispatch_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    dispatch_lease_seconds: float = Field(default=600.0, gt=0)
    dispatch_settle_seconds: float = Field(default=60.0, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
