"""A value read again once it is ``ttl`` seconds old: what the oversight page and the TAXII
server serve between reads of their topics (the read runs in a thread, one at a time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TimedCache"]

T = TypeVar("T")


class TimedCache(Generic[T]):
    """``read()``'s value, read anew when the last one is ``ttl`` seconds old."""

    def __init__(
        self, read: Callable[[], T], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._taken: float | None = None
        self._value: T | None = None

    async def get(self) -> T:
        """The current value, read anew when stale."""
        async with self._lock:
            now = self._clock()
            if self._value is None or self._taken is None or now - self._taken >= self._ttl:
                self._value = await asyncio.to_thread(self._read)
                self._taken = now
            return self._value
