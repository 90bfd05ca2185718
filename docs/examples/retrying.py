"""Retry: each message fails twice, then succeeds on its third attempt."""

from doozer import Application
from doozer.contrib.retry import Retry, RetryableException
from doozer.testing import MemoryQueue


async def callback(app, message):
    # The message is a delivery: its payload is message.body, and
    # message.attempt counts the attempts (1 first), kept by the queue.
    if message.attempt < 3:
        raise RetryableException(f"attempt {message.attempt} of {message.body['id']} failed")
    print(f"message {message.body['id']} succeeded on attempt {message.attempt}")


app = Application(
    "retrying",
    {"RETRY_THRESHOLD": 5, "RETRY_DELAY": 0.01, "RETRY_BACKOFF": 2},
    # An in-memory queue stands in for a broker: it redelivers a retried
    # message after the delay, as doozer.amqp does with RabbitMQ.
    consumer=MemoryQueue([{"id": 1}, {"id": 2}], clock="real", close=True),
    callback=callback,
)
Retry(app)  # no RETRY_CALLBACK: deliveries go back through their broker


@app.error
async def give_up(app, message, exception):
    """Runs only for final failures, once Retry stops retrying a message."""
    print(f"message {message.body['id']} failed for good: {exception}")


if __name__ == "__main__":
    app.run_forever(num_workers=2)
