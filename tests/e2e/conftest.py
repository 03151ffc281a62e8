"""End-to-end fixtures: a throwaway PostgreSQL server (see ``tests/postgres.py``)."""

from __future__ import annotations

import pytest

from tests.postgres import throwaway_postgres


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a PostgreSQL 15 server started for this session (skips without initdb unless $CI)."""
    with throwaway_postgres() as url:
        yield url
