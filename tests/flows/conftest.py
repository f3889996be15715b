"""Fixtures of the flow tests: Prefect's test harness (a temporary local API and database for the
whole session), so the flows run as real Prefect flow runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Real Prefect flow runs against a throwaway Prefect database (the server gets two minutes
    to start: the suite shares two cores with other work)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
