"""A value read again once it is ``ttl`` seconds old: what the oversight page and the TAXII
server serve between reads of their topics (the read runs in a thread, one at a time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["RefreshingValue", "TimedCache"]

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


class RefreshingValue(Generic[T]):
    """A value kept fresh by ``read()`` without making requests wait: a ``get`` that finds it
    ``ttl`` seconds old starts a read in a thread and answers with the value at hand (the
    oversight index: the next request sees what the read added). With ``ttl`` 0 every ``get``
    waits for a read of its own."""

    def __init__(
        self,
        read: Callable[[], T],
        first: T,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._taken: float | None = None
        self._value = first
        self._task: asyncio.Task[None] | None = None

    async def _refresh(self) -> None:
        async with self._lock:
            started = self._clock()
            self._value = await asyncio.to_thread(self._read)
            self._taken = started

    async def get(self) -> T:
        """The value at hand; the first ``get`` (or every one with ``ttl`` 0) waits for a read."""
        if self._taken is None or self._ttl <= 0:
            await self._refresh()
        elif self._clock() - self._taken >= self._ttl and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._refresh())
        return self._value
