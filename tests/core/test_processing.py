"""What happens to each message on its way through the callbacks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from doozer import Abort, Application

from .support import ListConsumer


def test_callbacks_run_in_documented_order(make_app: Any) -> None:
    events: list[Any] = []
    app: Application = make_app(["m"])

    @app.startup
    async def startup(app: Application) -> None:
        events.append("startup")

    @app.message_preprocessor
    async def preprocess(app: Application, message: str) -> str:
        events.append(("preprocess", message))
        return message + "!"

    async def callback(app: Application, message: str) -> list[str]:
        events.append(("callback", message))
        return [message + "1", message + "2"]

    app.callback = callback

    @app.result_postprocessor
    async def postprocess(app: Application, result: str) -> str:
        events.append(("postprocess", result))
        return result

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: str) -> None:
        events.append(("acknowledge", message))

    @app.teardown
    async def teardown(app: Application) -> None:
        events.append("teardown")

    app.run_forever()
    assert events == [
        "startup",
        ("preprocess", "m"),
        ("callback", "m!"),
        ("postprocess", "m!1"),
        ("postprocess", "m!2"),
        ("acknowledge", "m"),
        "teardown",
    ]


def test_preprocessors_and_postprocessors_are_chained(make_app: Any) -> None:
    seen: list[Any] = []
    app: Application = make_app([1, 2])

    @app.message_preprocessor
    async def double(app: Application, message: int) -> int:
        return message * 2

    @app.message_preprocessor
    async def add_ten(app: Application, message: int) -> int:
        return message + 10

    async def callback(app: Application, message: int) -> list[int]:
        return [message, -message]

    app.callback = callback

    @app.result_postprocessor
    async def negate(app: Application, result: int) -> int:
        return -result

    @app.result_postprocessor
    async def record(app: Application, result: int) -> int:
        seen.append(result)
        return result

    app.run_forever()
    assert seen == [-12, 12, -14, 14]


def test_acknowledgement_gets_the_very_object_read(make_app: Any) -> None:
    messages = [{"n": 1}, {"n": 2}]
    acknowledged: list[Any] = []
    app: Application = make_app(messages)

    @app.message_preprocessor
    async def replace(app: Application, message: dict[str, int]) -> dict[str, int]:
        return {"n": message["n"] * 100}

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        acknowledged.append(message)

    app.run_forever()
    assert len(acknowledged) == 2
    assert acknowledged[0] is messages[0]
    assert acknowledged[1] is messages[1]
    assert messages == [{"n": 1}, {"n": 2}]


def test_callback_returning_none_skips_postprocessors(make_app: Any) -> None:
    post: list[Any] = []
    acknowledged: list[Any] = []

    async def callback(app: Application, message: Any) -> None:
        return None

    app: Application = make_app([1], callback=callback)

    @app.result_postprocessor
    async def postprocess(app: Application, result: Any) -> Any:
        post.append(result)

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        acknowledged.append(message)

    app.run_forever()
    assert post == []
    assert acknowledged == [1]


def test_callback_returning_a_non_iterable_is_an_error(make_app: Any) -> None:
    errors: list[Exception] = []

    async def callback(app: Application, message: Any) -> Any:
        return 42

    app: Application = make_app([1], callback=callback)

    @app.result_postprocessor
    async def postprocess(app: Application, result: Any) -> Any:
        return result

    @app.error
    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        errors.append(exc)

    app.run_forever()
    assert len(errors) == 1
    assert "callback returned 'int'; it must return an iterable of results, or None" in str(
        errors[0]
    )


class TestAbort:
    def test_abort_in_preprocessor_stops_that_message_only(self, make_app: Any) -> None:
        handled: list[Any] = []
        acknowledged: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            handled.append(message)

        app: Application = make_app(["# comment", "line"], callback=callback)

        @app.message_preprocessor
        async def skip_comments(app: Application, message: str) -> str:
            if message.startswith("#"):
                raise Abort("line.comment", message)
            return message

        @app.message_acknowledgement
        async def acknowledge(app: Application, message: Any) -> None:
            acknowledged.append(message)

        app.run_forever()
        assert handled == ["line"]
        assert acknowledged == ["# comment", "line"]

    def test_abort_in_callback_skips_results_but_acknowledges(self, make_app: Any) -> None:
        post: list[Any] = []
        errors: list[Any] = []
        acknowledged: list[Any] = []

        async def callback(app: Application, message: Any) -> list[Any]:
            raise Abort("message.ignored", message)

        app: Application = make_app([1], callback=callback)

        @app.result_postprocessor
        async def postprocess(app: Application, result: Any) -> Any:
            post.append(result)

        @app.error
        async def on_error(app: Application, message: Any, exc: Exception) -> None:
            errors.append(exc)

        @app.message_acknowledgement
        async def acknowledge(app: Application, message: Any) -> None:
            acknowledged.append(message)

        app.run_forever()
        assert (post, errors, acknowledged) == ([], [], [1])

    def test_abort_in_postprocessor_drops_only_that_result(self, make_app: Any) -> None:
        kept: list[Any] = []

        async def callback(app: Application, message: Any) -> list[Any]:
            return [1, 2, 3]

        app: Application = make_app(["m"], callback=callback)

        @app.result_postprocessor
        async def drop_two(app: Application, result: int) -> int:
            if result == 2:
                raise Abort("result.dropped", result)
            return result

        @app.result_postprocessor
        async def keep(app: Application, result: int) -> int:
            kept.append(result)
            return result

        app.run_forever()
        assert kept == [1, 3]

    def test_abort_in_error_callback_skips_the_rest(self, make_app: Any) -> None:
        calls: list[str] = []
        acknowledged: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            raise ValueError("boom")

        app: Application = make_app([1], callback=callback)

        @app.error
        async def first(app: Application, message: Any, exc: Exception) -> None:
            calls.append("first")
            raise Abort("error.handled", message)

        @app.error
        async def second(app: Application, message: Any, exc: Exception) -> None:
            calls.append("second")

        @app.message_acknowledgement
        async def acknowledge(app: Application, message: Any) -> None:
            acknowledged.append(message)

        app.run_forever()
        assert calls == ["first"]
        assert acknowledged == [1]

    def test_abort_from_consumer_ends_consumption(self) -> None:
        handled: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            handled.append(message)

        consumer = ListConsumer(range(5))
        Application("svc", consumer=consumer, callback=callback).run_forever(num_workers=3)
        assert sorted(handled) == [0, 1, 2, 3, 4]

    def test_aborts_are_logged_at_debug(
        self, make_app: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        app: Application = make_app(["x"])

        @app.message_preprocessor
        async def reject(app: Application, message: Any) -> Any:
            raise Abort("message.rejected", message)

        with caplog.at_level(logging.DEBUG, logger="test"):
            app.run_forever()
        aborts = [r for r in caplog.records if "message.rejected" in r.getMessage()]
        assert [r.levelno for r in aborts] == [logging.DEBUG]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class TestErrors:
    def test_callback_exception_goes_to_error_callbacks_then_acknowledgement(
        self, make_app: Any
    ) -> None:
        events: list[Any] = []
        failure = ValueError("bad message")

        async def callback(app: Application, message: Any) -> None:
            raise failure

        app: Application = make_app(["m"], callback=callback)

        @app.message_preprocessor
        async def preprocess(app: Application, message: str) -> str:
            return message.upper()

        @app.error
        async def first(app: Application, message: Any, exc: Exception) -> None:
            events.append(("first", message, exc))

        @app.error
        async def second(app: Application, message: Any, exc: Exception) -> None:
            events.append(("second", message, exc))

        @app.message_acknowledgement
        async def acknowledge(app: Application, message: Any) -> None:
            events.append(("acknowledge", message))

        app.run_forever()
        assert events == [("first", "M", failure), ("second", "M", failure), ("acknowledge", "m")]

    def test_preprocessor_exception_goes_to_error_callbacks(self, make_app: Any) -> None:
        errors: list[Any] = []
        handled: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            handled.append(message)

        app: Application = make_app([1, 2], callback=callback)

        @app.message_preprocessor
        async def fail_on_one(app: Application, message: int) -> int:
            if message == 1:
                raise KeyError("missing")
            return message

        @app.error
        async def on_error(app: Application, message: Any, exc: Exception) -> None:
            errors.append((message, type(exc)))

        app.run_forever()
        assert errors == [(1, KeyError)]
        assert handled == [2]

    def test_unhandled_callback_error_is_logged_without_error_callbacks(
        self, make_app: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def callback(app: Application, message: Any) -> None:
            raise ValueError("nobody handles me")

        app: Application = make_app([1, 2], callback=callback)
        acknowledged: list[Any] = []

        @app.message_acknowledgement
        async def acknowledge(app: Application, message: Any) -> None:
            acknowledged.append(message)

        app.run_forever()
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 2
        assert errors[0].exc_info is not None
        assert "nobody handles me" in str(errors[0].exc_info[1])
        assert acknowledged == [1, 2]
