"""run_forever(): checks, event loops, debug mode, workers and backpressure."""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from typing import Any

import pytest

from doozer import Application

from .support import ListConsumer, QueueConsumer, echo


class TestChecks:
    def test_missing_consumer(self) -> None:
        app = Application("svc", callback=echo)
        with pytest.raises(TypeError, match=r"has no consumer: pass consumer=\.\.\."):
            app.run_forever()

    def test_consumer_without_coroutine_read(self) -> None:
        class SyncConsumer:
            def read(self) -> int:
                return 1

        for consumer in (SyncConsumer(), object()):
            app = Application("svc", consumer=consumer, callback=echo)
            with pytest.raises(TypeError, match=r"needs a coroutine method read\(\)"):
                app.run_forever()

    def test_callback_is_required(self) -> None:
        app = Application("svc", consumer=ListConsumer([]))
        with pytest.raises(TypeError, match=r"has no callback: pass callback=\.\.\."):
            app.run_forever()

    @pytest.mark.parametrize("callback", [print, lambda app, message: None])
    def test_callback_must_be_async_at_construction(self, callback: Any) -> None:
        # Refused where the mistake is made, not when the application "stops".
        with pytest.raises(TypeError, match=r"^the callback .* must be a coroutine function"):
            Application("svc", consumer=ListConsumer([]), callback=callback)

    def test_callback_must_be_async_when_set_later(self) -> None:
        app = Application("svc", consumer=ListConsumer([]))
        with pytest.raises(TypeError, match=r"^the callback .*not_async.* 'async def'"):
            app.callback = not_async  # type: ignore[assignment]

    @pytest.mark.parametrize("num_workers", [0, -1, 1.5, "4", True, None])
    def test_num_workers(self, num_workers: Any) -> None:
        app = Application("svc", consumer=ListConsumer([]), callback=echo)
        with pytest.raises(ValueError, match=r"num_workers must be a whole number of at least 1"):
            app.run_forever(num_workers=num_workers)

    @pytest.mark.parametrize("timeout", [-1, "30", True, [1]])
    def test_shutdown_timeout(self, timeout: Any) -> None:
        app = Application("svc", {"SHUTDOWN_TIMEOUT": timeout}, consumer=ListConsumer([]))
        app.callback = echo
        with pytest.raises(ValueError, match=r"SHUTDOWN_TIMEOUT setting must be a number"):
            app.run_forever()

    def test_checks_happen_before_anything_runs(self) -> None:
        started: list[bool] = []
        app = Application("svc", consumer=ListConsumer([]), callback=echo)

        @app.startup
        async def startup(app: Application) -> None:
            started.append(True)

        with pytest.raises(ValueError, match="num_workers"):
            app.run_forever(num_workers=0)
        assert started == []


class TestLifecycle:
    def test_startup_and_teardown_run_once_each(self) -> None:
        events: list[str] = []
        app = Application("svc", consumer=ListConsumer(range(20)), callback=echo)

        @app.startup
        async def startup(app: Application) -> None:
            events.append("startup")

        @app.teardown
        async def teardown(app: Application) -> None:
            events.append("teardown")

        app.run_forever(num_workers=5)
        assert events == ["startup", "teardown"]

    def test_num_workers_is_known_from_startup_on(self) -> None:
        seen: list[Any] = []
        app = Application("svc", consumer=ListConsumer([]), callback=echo)
        assert app.num_workers is None

        @app.startup
        async def startup(app: Application) -> None:
            seen.append(app.num_workers)

        app.run_forever(num_workers=7)
        assert seen == [7]

    def test_given_loop_is_used_and_left_open(self) -> None:
        loop = asyncio.new_event_loop()
        seen: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            seen.append(asyncio.get_running_loop())

        try:
            Application("svc", consumer=ListConsumer([1]), callback=callback).run_forever(loop=loop)
            assert seen == [loop]
            assert not loop.is_closed()
        finally:
            loop.close()

    def test_own_loop_is_closed(self) -> None:
        seen: list[asyncio.AbstractEventLoop] = []

        async def callback(app: Application, message: Any) -> None:
            seen.append(asyncio.get_running_loop())

        Application("svc", consumer=ListConsumer([1]), callback=callback).run_forever()
        assert seen[0].is_closed()

    def test_uvloop_is_used_when_importable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        class MarkedLoop(asyncio.SelectorEventLoop):
            pass

        fake_uvloop = types.ModuleType("uvloop")
        fake_uvloop.new_event_loop = MarkedLoop  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "uvloop", fake_uvloop)
        seen: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            seen.append(type(asyncio.get_running_loop()))

        Application("svc", consumer=ListConsumer([1]), callback=callback).run_forever()
        assert seen == [MarkedLoop]

    def test_asyncio_loop_without_uvloop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # makes the import fail
        seen: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            seen.append(asyncio.get_running_loop())

        Application("svc", consumer=ListConsumer([1]), callback=callback).run_forever()
        assert isinstance(seen[0], asyncio.BaseEventLoop)


class TestDebug:
    @pytest.fixture(autouse=True)
    def _reset_logger(self, monkeypatch: pytest.MonkeyPatch) -> Any:
        monkeypatch.delenv("PYTHONASYNCIODEBUG", raising=False)
        logger = logging.getLogger("debuggable")
        yield
        logger.setLevel(logging.NOTSET)

    def run(self, **settings: Any) -> dict[str, Any]:
        observed: dict[str, Any] = {}
        debug = settings.pop("debug", False)
        app = Application("debuggable", settings, consumer=ListConsumer([]), callback=echo)

        @app.startup
        async def observe(app: Application) -> None:
            observed["loop"] = asyncio.get_running_loop().get_debug()
            observed["setting"] = app.settings["DEBUG"]
            observed["level"] = app.logger.getEffectiveLevel()

        app.run_forever(debug=debug)
        return observed

    def test_off_by_default(self) -> None:
        assert self.run() == {"loop": False, "setting": False, "level": logging.WARNING}

    def test_argument(self) -> None:
        assert self.run(debug=True) == {"loop": True, "setting": True, "level": logging.DEBUG}

    def test_setting(self) -> None:
        assert self.run(DEBUG=True) == {"loop": True, "setting": True, "level": logging.DEBUG}

    def test_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
        assert self.run()["loop"] is True

    def test_lower_level_is_kept(self) -> None:
        logging.getLogger("debuggable").setLevel(5)
        assert self.run(debug=True)["level"] == 5


class ConcurrencyProbe:
    """A callback that records how many calls overlap."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0

    async def __call__(self, app: Application, message: Any) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.001)
        self.active -= 1


@pytest.mark.parametrize("num_workers", [1, 3, 10])
def test_n_workers_run_n_messages_at_once(num_workers: int) -> None:
    probe = ConcurrencyProbe()

    async def callback(app: Application, message: Any) -> None:
        await probe(app, message)

    app = Application("svc", consumer=ListConsumer(range(60)), callback=callback)
    app.run_forever(num_workers=num_workers)
    assert probe.peak == num_workers


def test_read_ahead_is_bounded_by_the_number_of_workers() -> None:
    num_workers = 4
    gate: asyncio.Event | None = None
    consumer = ListConsumer(range(100))
    read_while_blocked: list[int] = []

    async def callback(app: Application, message: Any) -> None:
        nonlocal gate
        if gate is None:
            gate = asyncio.Event()
            asyncio.get_running_loop().call_later(0.05, gate.set)
        if not gate.is_set():
            await gate.wait()
            read_while_blocked.append(consumer.read_count)

    Application("svc", consumer=consumer, callback=callback).run_forever(num_workers=num_workers)
    # While every worker was blocked, the reader filled the queue (N) and
    # then waited holding one more message: never more than 2N + 1 reads.
    assert read_while_blocked
    assert max(read_while_blocked) <= 2 * num_workers + 1
    assert consumer.read_count == 100


def test_waiting_for_messages_does_not_poll() -> None:
    """An idle application sleeps until a message arrives: no timer wake-ups."""
    wakeups = 0

    class CountingLoop(asyncio.SelectorEventLoop):
        def _run_once(self) -> None:
            nonlocal wakeups
            wakeups += 1
            super()._run_once()  # type: ignore[misc]

    consumer = QueueConsumer()
    received: list[Any] = []
    idle_wakeups: list[int] = []

    async def callback(app: Application, message: Any) -> None:
        received.append(message)

    app = Application("svc", consumer=consumer, callback=callback)

    @app.startup
    async def feed_later(app: Application) -> None:
        loop = asyncio.get_running_loop()

        def measure_then_feed() -> None:
            idle_wakeups.append(wakeups - start)
            consumer.queue.put_nowait("hello")
            consumer.queue.put_nowait(None)

        start = wakeups
        loop.call_later(0.5, measure_then_feed)

    loop = CountingLoop()
    try:
        app.run_forever(num_workers=10, loop=loop)
    finally:
        loop.close()
    assert received == ["hello"]
    # Polling every 0.1 s would wake the loop at least 5 times in 0.5 s; an
    # event-driven one wakes a couple of times to start the tasks, then sleeps.
    assert idle_wakeups[0] <= 3


def not_async(app: Application, message: Any) -> None: ...
