"""A small in-process rate limit: at most N events per key (a client address) per fixed one-minute window.

One process's memory: with several server processes, each counts its own (the limit is then per process). The
table of keys is bounded; when full, the windows that are over are dropped first, then the oldest.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW_S = 60.0
MAX_KEYS = 10_000


class MinuteLimit:
    """``allow(key)`` is True while ``key`` has made fewer than ``per_minute`` calls in the current minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= WINDOW_S:
                start, count = now, 0
            if count >= self.per_minute:
                return False
            self._windows[key] = (start, count + 1)
            self._windows.move_to_end(key)
            if len(self._windows) > MAX_KEYS:
                for old in [k for k, (s, _) in self._windows.items() if now - s >= WINDOW_S]:
                    del self._windows[old]
                while len(self._windows) > MAX_KEYS:
                    self._windows.popitem(last=False)
            return True

    def retry_after(self, key: str) -> int:
        """Seconds until ``key``'s window is over."""
        with self._lock:
            start, _ = self._windows.get(key, (self.clock(), 0))
        return max(1, int(WINDOW_S - (self.clock() - start)) + 1)
