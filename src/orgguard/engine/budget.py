"""The time budget of one file: a ``SIGALRM`` that interrupts its analysis (worker watchdogs cover native code)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class FileTimeout(BaseException):
    """Raised by :func:`time_guard` when a file's analysis runs past its budget.

    A ``BaseException``, so that no ``except Exception`` in a checker can swallow it.
    """


@contextlib.contextmanager
def time_guard(seconds: float | None) -> Iterator[None]:
    """Raise :class:`FileTimeout` in the block after ``seconds`` (POSIX main thread only; else no guard).

    The alarm interrupts Python code; code running inside a C extension is interrupted when it returns
    to Python (the worker watchdog covers the rest).
    """
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise FileTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds or 0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


__all__ = ["FileTimeout", "time_guard"]
