"""The two kinds of background threads FreeSWITCH uses for messaging: the event dispatch thread (every fired
event goes through the bound handlers, in firing order) and the chat worker queues (``do_chat_send`` for
non-blocking messages, two queues served round-robin as in ``switch_loadable_module.c``)."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable

from tests.esl_simulator.events import Event

EventHandler = Callable[[Event], None]


class EventDispatcher:
    """``switch_event_fire``: queues the event; one thread hands it to each bound handler in turn. A handler
    may modify the event for the handlers after it, and events fired from a handler come after this one."""

    def __init__(self, handlers: list[EventHandler]) -> None:
        self._handlers = handlers
        self._queue: queue.Queue[Event | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="esl-sim-events", daemon=True)

    def start(self) -> None:
        """Start the dispatch thread."""
        self._thread.start()

    def fire(self, event: Event) -> None:
        """Queue ``event`` for delivery."""
        self._queue.put(event)

    def drain(self, timeout: float) -> None:
        """Wait until every event fired so far has been handed to the handlers (at most ``timeout`` s)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def stop(self) -> None:
        """Stop the thread (events still queued are dropped)."""
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            for handler in self._handlers:
                handler(item)


class ChatWorkers:
    """``chat_queue_message``: non-blocking messages go round-robin to two worker threads, so a message that
    blocks (``blocking: true``) holds up the ones queued behind it on the same worker."""

    def __init__(self, process: Callable[[Event], object], count: int = 2) -> None:
        self._process = process
        self._queues: list[queue.Queue[Event | None]] = [queue.Queue() for _ in range(count)]
        self._threads = [
            threading.Thread(target=self._run, args=(work,), name=f"esl-sim-chat-{index}", daemon=True)
            for index, work in enumerate(self._queues)
        ]
        self._next = itertools.cycle(self._queues)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the worker threads."""
        for thread in self._threads:
            thread.start()

    def queue(self, event: Event) -> None:
        """Hand ``event`` to the next worker."""
        with self._lock:
            work = next(self._next)
        work.put(event)

    def stop(self) -> None:
        """Stop the workers (messages still queued are dropped)."""
        for work in self._queues:
            work.put(None)
        for thread in self._threads:
            thread.join(5)

    def _run(self, work: queue.Queue[Event | None]) -> None:
        while (event := work.get()) is not None:
            self._process(event)
