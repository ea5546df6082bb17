"""Fixtures of the integration tests that need the secure broker (:mod:`.secure_broker`):
one for the package, whichever module asks first. If it cannot start, they fail with the
reason; they never skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.errors import IntelshareError
from streams.settings import Settings
from tests.integration import secure_broker


@pytest.fixture(scope="package")
def secure_broker_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[secure_broker.SecureBroker]:
    """The secure broker, started once for the package."""
    runs = secure_broker.run(tmp_path_factory.mktemp("secure") / "home")
    try:
        started = next(runs)
    except IntelshareError as exc:
        pytest.fail(f"the secure broker did not start: {exc}")
    yield started
    next(runs, None)


@pytest.fixture(scope="package")
def secure_admin(secure_broker_run: secure_broker.SecureBroker) -> Settings:
    """Admin settings of the secure broker (SASL_PLAINTEXT on its loopback listener), with the
    catalogue created under ``secure_broker.PREFIX``."""
    return secure_broker_run.plain


@pytest.fixture(scope="package")
def tls_admin(secure_broker_run: secure_broker.SecureBroker) -> Settings:
    """The same admin over SASL_SSL, trusting the broker's CA."""
    return secure_broker_run.tls
