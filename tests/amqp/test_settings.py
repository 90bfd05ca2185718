"""The AMQP extension's settings and registration (no broker needed)."""

from __future__ import annotations

from typing import Any

import pytest

from doozer import Application
from doozer.amqp import AMQP, FALLBACK_PREFETCH_COUNT, Consumer


def make(**settings: Any) -> Application:
    return Application("amqp-settings", settings)


def test_defaults_fill_in_the_settings() -> None:
    app = make()
    AMQP(app)
    assert app.settings["AMQP_URL"] == "amqp://guest:guest@localhost:5672/"
    assert app.settings["AMQP_PREFETCH_COUNT"] is None
    assert app.extensions["amqp"] is not None


def test_dead_letter_queue_defaults_to_the_inbound_queue_name() -> None:
    amqp = AMQP(make(AMQP_INBOUND_QUEUE="jobs"))
    assert amqp._config.dead_letter_queue == "jobs.dead"
    amqp = AMQP(make(AMQP_INBOUND_QUEUE="jobs", AMQP_DEAD_LETTER_QUEUE="failed"))
    assert amqp._config.dead_letter_queue == "failed"


def test_hooks_are_registered_in_their_order() -> None:
    app = make(AMQP_INBOUND_QUEUE="jobs")

    @app.startup
    async def before(app: Application) -> None: ...

    @app.teardown
    async def cleanup(app: Application) -> None: ...

    AMQP(app)

    @app.startup
    async def after(app: Application) -> None: ...

    @app.teardown
    async def late_cleanup(app: Application) -> None: ...

    # The connection opens before every other startup callback and closes
    # after every other teardown callback, whatever the registration order.
    startup, teardown = list(app.callbacks.startup), list(app.callbacks.teardown)
    assert startup[1:] == [before, after]
    assert teardown[:2] == [cleanup, late_cleanup]
    assert len(startup) == len(teardown) == 3
    assert len(app.callbacks.message_wrapper) == 1
    assert list(app.callbacks.error) == []  # the engine logs failures


def test_consumer_needs_the_inbound_queue() -> None:
    amqp = AMQP(make())
    with pytest.raises(KeyError, match="AMQP_INBOUND_QUEUE"):
        amqp.consumer()


def test_consumer_is_made_once() -> None:
    amqp = AMQP(make(AMQP_INBOUND_QUEUE="jobs"))
    consumer = amqp.consumer()
    assert isinstance(consumer, Consumer)
    assert amqp.consumer() is consumer


def test_producer_takes_the_outbound_settings() -> None:
    amqp = AMQP(make(AMQP_OUTBOUND_EXCHANGE="events", AMQP_OUTBOUND_ROUTING_KEY="done"))
    producer = amqp.producer()
    assert (producer.exchange, producer.routing_key) == ("events", "done")
    other = amqp.producer(exchange="", routing_key="elsewhere")
    assert (other.exchange, other.routing_key) == ("", "elsewhere")


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("AMQP_URL", "", TypeError),
        ("AMQP_INBOUND_QUEUE", 5, TypeError),
        ("AMQP_PREFETCH_COUNT", 0, ValueError),
        ("AMQP_PREFETCH_COUNT", True, ValueError),
        ("AMQP_PREFETCH_COUNT", 70000, ValueError),
        ("AMQP_EXCHANGE_TYPE", "x-delayed", ValueError),
        ("AMQP_INBOUND_ROUTING_KEYS", [1], TypeError),
        ("AMQP_INBOUND_QUEUE_ARGUMENTS", [], TypeError),
        ("AMQP_OUTBOUND_EXCHANGE", 3, TypeError),
        ("AMQP_OUTBOUND_ROUTING_KEY", 3, TypeError),
        ("AMQP_RECONNECT_DELAY", -1, ValueError),
        ("AMQP_DEAD_LETTER_QUEUE", "jobs", ValueError),
    ],
)
def test_bad_settings_are_refused(setting: str, value: Any, error: type[Exception]) -> None:
    app = make(**{"AMQP_INBOUND_QUEUE": "jobs", setting: value})
    with pytest.raises(error, match=setting):
        AMQP(app)
    assert "amqp" not in app.extensions


def test_one_amqp_per_application() -> None:
    app = make()
    AMQP(app)
    with pytest.raises(RuntimeError, match="already initialized"):
        AMQP(app)


def test_prefetch_count() -> None:
    app = make(AMQP_PREFETCH_COUNT=7)
    assert AMQP(app).prefetch_count == 7
    app = make()
    amqp = AMQP(app)
    assert amqp.prefetch_count == FALLBACK_PREFETCH_COUNT
    app.num_workers = 6  # as run_forever(num_workers=6) sets it before startup
    assert amqp.prefetch_count == 12


async def test_publish_result_wants_bytes_or_text() -> None:
    app = make()
    amqp = AMQP(app)
    with pytest.raises(TypeError, match=r"bytes, strings or doozer\.amqp\.Result, not dict"):
        await amqp.publish_result(app, {"a": 1})


async def test_republish_wants_an_amqp_message() -> None:
    app = make(AMQP_INBOUND_QUEUE="jobs")
    amqp = AMQP(app)
    with pytest.raises(TypeError, match="read by AMQP's consumer"):
        await amqp.republish(app, {"body": "not a delivery"})


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("notaurl", "must start with amqp:// or amqps://"),
        ("http://x", "must start with amqp:// or amqps://"),
        ("amqp://guest:s3cret@host:notaport/", "invalid port"),
        ("amqp://guest:s3cret@host:70000/", "invalid port"),
        ("amqp:///vhost", "no host"),
    ],
)
def test_bad_urls_are_one_value_error_without_the_password(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="AMQP_URL") as caught:
        AMQP(make(AMQP_URL=url))
    text = str(caught.value)
    assert complaint in text
    assert "\n" not in text
    assert "s3cret" not in text


def test_amqps_urls_are_accepted() -> None:
    AMQP(make(AMQP_URL="amqps://user:pw@broker.example:5671/prod"))


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("AMQP_CONNECT_TIMEOUT", -1),
        ("AMQP_HEARTBEAT", 1.5),
        ("AMQP_PUBLISH_TIMEOUT", 0),
        ("AMQP_ACK_BATCH_INTERVAL", -0.1),
        ("AMQP_TLS_VERIFY", "yes"),
        ("AMQP_TLS_CA_FILE", ""),
    ],
)
def test_bad_new_settings_are_refused(setting: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=setting):
        AMQP(make(**{setting: value}))


def test_the_outbound_queue_needs_a_route_to_it() -> None:
    with pytest.raises(ValueError, match="AMQP_OUTBOUND_ROUTING_KEY"):
        AMQP(make(AMQP_OUTBOUND_QUEUE="results"))
    with pytest.raises(ValueError, match="AMQP_OUTBOUND_ROUTING_KEY"):
        AMQP(make(AMQP_OUTBOUND_QUEUE="results", AMQP_OUTBOUND_EXCHANGE="events"))
    AMQP(make(AMQP_OUTBOUND_QUEUE="results", AMQP_OUTBOUND_ROUTING_KEY="results"))


def test_no_password_in_any_repr() -> None:
    app = make(AMQP_URL="amqp://user:s3cret@broker:5672/vh", AMQP_INBOUND_QUEUE="jobs")
    amqp = AMQP(app)
    consumer = amqp.consumer()
    shown = [repr(app.settings), str(app.settings), repr(amqp), repr(consumer)]
    shown += [repr(amqp.producer()), repr(vars(amqp))]
    for text in shown:
        assert "s3cret" not in text, text
    assert "jobs" in repr(consumer)
    assert "user:***@broker" in repr(amqp)
