"""Whether Redis answers, asked directly: what ``/readyz`` reports first.

``RedisProbe(url).state()`` sends PING on a client of its own (short timeouts), from whatever
thread asks (the health server's). A "redis ok" is kept for ``max_age_s``, so a burst of probes
costs one PING and an outage shows within ``max_age_s``; a failure is never kept, so the
recovery shows at the first probe after Redis answers again. The consumer's own view of Redis
lags behind: it learns of an outage only when a read or a write fails (up to the block time
later) and of the recovery only after a successful batch; the probe answers within
``timeout_s`` either way.
"""

from __future__ import annotations

import threading
import time

from data_feeds.cache.clients import sync_client


class RedisProbe:
    """PING on demand, a success cached for ``max_age_s`` (see the module doc)."""

    def __init__(self, url: str, *, timeout_s: float = 0.25, max_age_s: float = 0.2) -> None:
        if not (timeout_s > 0.0 and max_age_s >= 0.0):
            raise ValueError("timeout_s must be > 0 and max_age_s >= 0")
        # on a cluster, PING goes to a node the cluster client knows to be up
        self.client = sync_client(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=None
        )
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._at = -1e18
        self._answer: tuple[bool, str] = (False, "redis not asked yet")

    def state(self) -> tuple[bool, str]:
        """``(True, "redis ok")`` or ``(False, "redis unreachable: <why>")``."""
        with self._lock:
            fresh = time.monotonic() - self._at <= self.max_age_s
            if not (fresh and self._answer[0]):
                self._answer = self._ping()
                self._at = time.monotonic()
            return self._answer

    def _ping(self) -> tuple[bool, str]:
        try:
            self.client.ping()
        except Exception as exc:
            return False, f"redis unreachable: {exc}"[:300]
        return True, "redis ok"

    def close(self) -> None:
        self.client.close()
