"""The fleet tests' services: a missing Redis or PostgreSQL skips a test locally, and fails it in CI."""

from __future__ import annotations

import pytest
import services


def test_missing_binaries_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(services, "postgres_bin", lambda: None)
    assert services.missing("redis") == "redis-server is not installed"
    assert "PostgreSQL" in (services.missing("postgresql") or "")
    monkeypatch.delenv(services.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        services.require("redis")
    monkeypatch.setenv(services.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="required here"):
        services.require("postgresql")
