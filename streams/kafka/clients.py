"""kafka-python clients built from :class:`Settings`, with Kafka errors translated at this boundary.

Everything that opens a connection to the broker goes through here, so a missing broker or topic
always reads the same way: a named intelshare error whose message says what to do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import kafka.errors
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from streams.errors import (
    AuthenticationFailedError,
    BrokerUnavailableError,
    IntelshareError,
    NotAuthorisedError,
    TopicMissingError,
)
from streams.i18n import msg
from streams.kafka.tls import client_context, diagnose, user_of, uses_tls
from streams.settings import Settings

__all__ = [
    "BrokerProbe",
    "admin_client",
    "broker_unavailable",
    "consumer",
    "latest_by_key",
    "librdkafka_config",
    "not_authorised",
    "producer",
    "publish",
    "read_topic",
    "refused",
    "translate_errors",
    "unreadable_topic",
]


def _common(settings: Settings) -> dict[str, Any]:
    timeout_ms = int(settings.request_timeout * 1000)
    return {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "request_timeout_ms": timeout_ms,
        "bootstrap_timeout_ms": timeout_ms,
        "client_id": "intelshare",
        **_security(settings),
    }


def _security(settings: Settings) -> dict[str, Any]:
    """``Settings.kafka_security``, its TLS files read into one checked context."""
    security = settings.kafka_security()
    if uses_tls(settings):
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"):
            del security[name]
        security["ssl_context"] = client_context(settings)
    return security


class _SaslRefusals(logging.Handler):
    """What kafka-python's network layer logged, and then retried rather than raised.

    A refused SASL login is retried until the bootstrap times out; the refusal itself only
    shows in the log, or as a disconnect when the broker closes the socket before the client
    has read its answer. Both are remembered here so the timeout can be explained.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.refusal: Exception | None = None
        self.disconnects = 0

    def emit(self, record: logging.LogRecord) -> None:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, kafka.errors.SaslAuthenticationFailedError):
                self.refusal = arg
            elif isinstance(arg, kafka.errors.KafkaConnectionError) and "disconnected" in str(arg):
                self.disconnects += 1


@contextlib.contextmanager
def _watching_sasl(settings: Settings) -> Iterator[_SaslRefusals]:
    """Listen to kafka-python's network log for refused logins, without showing it."""
    handler = _SaslRefusals()
    if settings.security_protocol == "PLAINTEXT":
        yield handler
        return
    logger = logging.getLogger("kafka.net")
    saved = (logger.level, logger.propagate)
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def refused(settings: Settings, doing: str) -> AuthenticationFailedError:
    """The broker refused the login: which user, and the settings to check."""
    return AuthenticationFailedError(
        msg(
            "the broker at {bootstrap_servers} refused the login of user {sasl_username} while "
            "{doing}; check INTELSHARE_SASL_USERNAME and INTELSHARE_SASL_PASSWORD (or "
            "INTELSHARE_SASL_PASSWORD_FILE), and that the broker is a secure one "
            "(INTELSHARE_SECURITY_PROTOCOL)",
            bootstrap_servers=settings.bootstrap_servers,
            sasl_username=settings.sasl_username or "(none)",
            doing=doing,
        )
    )


def not_authorised(settings: Settings, doing: str, exc: Exception) -> NotAuthorisedError:
    """The broker refused what the user asked for: ask the operator for a role that allows it."""
    return NotAuthorisedError(
        msg(
            "user {user_of} is not allowed to do this while {doing} ({exc}); ask the exchange's "
            "operator for a role that allows it",
            user_of=user_of(settings) or "(anonymous)",
            doing=doing,
            exc=exc,
        )
    )


@contextlib.contextmanager
def translate_errors(settings: Settings, doing: str) -> Iterator[None]:
    """Turn kafka-python errors raised while ``doing`` something into intelshare errors."""
    try:
        with _watching_sasl(settings) as sasl:
            try:
                yield
            except (kafka.errors.KafkaTimeoutError, kafka.errors.KafkaConnectionError) as exc:
                problem = diagnose(settings)
                if problem is not None:
                    raise problem from exc
                if sasl.refusal is not None or sasl.disconnects:
                    raise refused(settings, doing) from sasl.refusal or exc
                raise
    except IntelshareError:
        raise
    except kafka.errors.SaslAuthenticationFailedError as exc:
        raise refused(settings, doing) from exc
    except kafka.errors.AuthorizationError as exc:
        raise not_authorised(settings, doing, exc) from exc
    except (kafka.errors.KafkaTimeoutError, kafka.errors.KafkaConnectionError) as exc:
        if "AuthorizationFailedError" in str(exc):  # e.g. topics that never became visible
            raise not_authorised(settings, doing, exc) from exc
        raise broker_unavailable(settings, doing, exc) from exc
    except kafka.errors.UnknownTopicOrPartitionError as exc:
        raise TopicMissingError(
            msg("a topic is missing while {doing}; run `intelshare topics create`", doing=doing)
        ) from exc
    except kafka.errors.KafkaError as exc:
        if "AuthorizationFailedError" in str(exc):  # kafka-python wraps InitProducerId's refusal
            raise not_authorised(settings, doing, exc) from exc
        raise IntelshareError(
            msg("Kafka refused while {doing}: {exc}", doing=doing, exc=exc)
        ) from exc


@contextlib.contextmanager
def admin_client(settings: Settings) -> Iterator[KafkaAdminClient]:
    """An admin client that is closed on exit."""
    with translate_errors(settings, msg("connecting an admin client")):
        client = KafkaAdminClient(**_common(settings))
    try:
        yield client
    finally:
        client.close()


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer (acks=all) of bytes; the caller closes it."""
    config = _common(settings) | {
        "acks": "all",
        "enable_idempotence": True,
        "max_block_ms": int(settings.request_timeout * 1000),
        "max_request_size": settings.max_report_bytes + 64 * 1024,
        "linger_ms": 5,
    }
    with translate_errors(settings, msg("connecting a producer")):
        return KafkaProducer(**(config | overrides))


def consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A read_committed consumer of bytes; the caller closes it."""
    config = _common(settings) | {
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
    }
    with translate_errors(settings, msg("connecting a consumer")):
        return KafkaConsumer(*topics, **(config | overrides))


def publish(settings: Settings, topic: str, items: Iterable[tuple[bytes, bytes | None]]) -> int:
    """Send ``(key, value)`` pairs to ``topic`` and wait until the broker has all of them."""
    client = producer(settings)
    try:
        with translate_errors(settings, msg("publishing to {topic}", topic=topic)):
            futures = [client.send(topic, key=key, value=value) for key, value in items]
            client.flush(timeout=settings.request_timeout * 4)
            for future in futures:
                future.get(timeout=settings.request_timeout)
        return len(futures)
    finally:
        client.close(timeout=settings.request_timeout)


def broker_unavailable(settings: Settings, doing: str, exc: object) -> BrokerUnavailableError:
    """No broker answered while ``doing`` something (``exc``: what the client said)."""
    return BrokerUnavailableError(
        msg(
            "no Kafka broker answered at {bootstrap_servers} while {doing} ({exc}); start the "
            "local one with `intelshare broker start`, or set KAFKA_BOOTSTRAP_SERVERS",
            bootstrap_servers=settings.bootstrap_servers,
            doing=doing,
            exc=exc,
        )
    )


def unreadable_topic(settings: Settings, topic: str) -> IntelshareError:
    """What to raise when ``topic`` shows no partitions: missing, or on a secure broker (which
    hides the topics a user may not describe) perhaps not the user's to read."""
    if settings.security_protocol != "PLAINTEXT":
        return NotAuthorisedError(
            msg(
                "user {user_of} may not read {topic}, or it does not exist: its role does "
                "not cover this command (see `intelshare users add --role`), or run "
                "`intelshare topics create` as the admin",
                user_of=user_of(settings),
                topic=topic,
            )
        )
    return TopicMissingError(
        msg("topic {topic} does not exist; run `intelshare topics create`", topic=topic)
    )


def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every committed record of ``topic`` up to its current end, partition by partition."""
    from kafka import TopicPartition

    client = consumer(settings, group_id=None)
    records: list[Any] = []
    try:
        with translate_errors(settings, msg("reading {topic}", topic=topic)):
            numbers = client.partitions_for_topic(topic)
            if not numbers:
                raise unreadable_topic(settings, topic)
            partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
            client.assign(partitions)
            client.seek_to_beginning()
            ends = client.end_offsets(partitions)
            while any(client.position(tp) < end for tp, end in ends.items()):
                for batch in client.poll(timeout_ms=500).values():
                    records.extend(batch)
        return records
    finally:
        client.close()


def latest_by_key(settings: Settings, topic: str) -> dict[bytes, bytes]:
    """The latest committed value per key of a compacted topic (tombstones remove the key)."""
    latest: dict[bytes, bytes] = {}
    for record in read_topic(settings, topic):
        if record.value is None:
            latest.pop(record.key, None)
        else:
            latest[record.key] = record.value
    return latest


def librdkafka_config(settings: Settings) -> dict[str, Any]:
    """Connection settings for confluent-kafka (librdkafka) clients: the agents' engine and
    their views use these, with the same broker and credentials as every other client."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": "intelshare",
    }
    security = settings.kafka_security()
    config["security.protocol"] = security["security_protocol"]
    if "sasl_mechanism" in security:
        config |= {
            "sasl.mechanism": security["sasl_mechanism"],
            "sasl.username": security["sasl_plain_username"],
            "sasl.password": security["sasl_plain_password"],
        }
    if uses_tls(settings):
        client_context(settings)  # the same checks, and messages, before librdkafka reads them
        config |= {
            "ssl.ca.location": security["ssl_cafile"],
            "ssl.endpoint.identification.algorithm": "https",
        }
        if security["ssl_certfile"]:
            config["ssl.certificate.location"] = security["ssl_certfile"]
            config["ssl.key.location"] = security["ssl_keyfile"]
    return config


class BrokerProbe:
    """Asks the broker for its metadata, as often as wanted, over one librdkafka admin client
    with the agents' connection settings; a broker slow to accept a connection is not asked
    from scratch each time. Use it in a ``with`` block.

    librdkafka logs every refused connection on stderr; here its log is off (``log_level`` 0)
    and its errors are kept instead, to tell a refused login from a broker that is not there.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._errors: list[KafkaError] = []
        config = librdkafka_config(settings) | {"log_level": 0, "error_cb": self._errors.append}
        self._client: AdminClient | None = AdminClient(config)

    def answers(self, timeout: float) -> bool:
        """Whether the broker answered a metadata request within ``timeout`` seconds (which
        this call blocks for, signals included); :class:`AuthenticationFailedError` if it
        refused the login."""
        if self._client is None:
            raise RuntimeError("the broker probe is closed")
        try:
            self._client.list_topics(timeout=timeout)
        except KafkaException:
            self._client.poll(0)  # hands librdkafka's errors to error_cb
            login_refused = any(e.code() == KafkaError._AUTHENTICATION for e in self._errors)
            failed = bool(self._errors)
            self._errors.clear()
            if login_refused:
                raise refused(self._settings, "asking for its metadata") from None
            problem = diagnose(self._settings) if failed else None
            if problem is not None:
                raise problem from None
            return False
        return True

    def close(self) -> None:
        """Let go of the client: librdkafka's admin client has no ``close()`` and is destroyed,
        its threads and sockets with it, when its last reference goes. Idempotent."""
        self._client = None

    def __enter__(self) -> BrokerProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
