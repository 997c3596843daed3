"""Memory probe: sample the resident set size of a server's processes from /proc while it works.

Used around the bulk load: `with RssProbe(server) as probe: ...` then `probe.summary()` gives the
start, peak and end RSS of the largest single web process and of all of them together, so a
leak (growth that does not come back) shows as end well above start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType

from bench.procs import Server, rss_kib


@dataclass(frozen=True)
class RssSummary:
    """RSS in MiB: the largest single process and the sum over the server's processes.

    `warm_mib` is taken a tenth of the way through, after imports and caches have filled, so
    `end_mib - warm_mib` is growth under load rather than start-up.
    """

    start_mib: float
    warm_mib: float
    peak_mib: float
    end_mib: float
    total_start_mib: float
    total_peak_mib: float
    total_end_mib: float
    samples: int


class RssProbe:
    """Samples every `interval` seconds in a background thread between __enter__ and __exit__."""

    def __init__(self, server: Server, *, interval: float = 0.25) -> None:
        self._server = server
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.samples: list[dict[int, int]] = []

    def sample(self) -> dict[int, int]:
        """RSS in KiB per live process of the server, right now."""
        return {pid: kib for pid in self._server.process_ids() if (kib := rss_kib(pid))}

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append(self.sample())

    def __enter__(self) -> RssProbe:
        self.samples.append(self.sample())
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.sample())

    def summary(self) -> RssSummary:
        """Start, peak and end of the largest process and of the total, in MiB."""
        largest = [max(s.values(), default=0) / 1024 for s in self.samples]
        total = [sum(s.values()) / 1024 for s in self.samples]
        return RssSummary(
            start_mib=largest[0],
            warm_mib=largest[len(largest) // 10],
            peak_mib=max(largest),
            end_mib=largest[-1],
            total_start_mib=total[0],
            total_peak_mib=max(total),
            total_end_mib=total[-1],
            samples=len(self.samples),
        )
