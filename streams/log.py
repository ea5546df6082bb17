"""structlog configuration: JSON lines on stderr, one event per line, key-value fields only.

Never log a report's narrative, a key or a secret: log ids and counts.
"""

from __future__ import annotations

import logging
import sys

import structlog

from streams.errors import ConfigError

__all__ = ["configure_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


def configure_logging(level: str) -> None:
    """Send structlog events at ``level`` and above to stderr as JSON lines."""
    try:
        threshold = _LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(
            f"log level {level!r} is not one of {', '.join(_LEVELS)}; set INTELSHARE_LOG_LEVEL"
        ) from None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(threshold, logging.WARNING), stream=sys.stderr)
    # The Kafka clients log every refused connection; intelshare translates their errors
    # into its own messages, so their logs are wanted only when debugging.
    quiet = logging.DEBUG if threshold == logging.DEBUG else logging.CRITICAL
    logging.getLogger("kafka").setLevel(quiet)
    logging.getLogger("quixstreams").setLevel(
        logging.DEBUG if quiet == logging.DEBUG else logging.ERROR
    )
