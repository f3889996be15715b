"""Settings from the environment (prefix ``ROLLOUT_``) and an optional ``.env`` file.

A leaf module: imports nothing of rollout.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration.

    ``database_url``: SQLAlchemy URL; default a SQLite file ``rollout.db`` in the working directory.
    ``timezone``: IANA name of the plan's local time; all ``_on`` dates are days in it.
    ``holiday_dirs``: extra folders of holiday override files (``YYYY.yaml``), searched before the
    ones bundled in the package.
    """

    model_config = SettingsConfigDict(env_prefix="ROLLOUT_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///rollout.db"
    timezone: str = "Asia/Shanghai"
    holiday_dirs: list[Path] = Field(default_factory=list)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
