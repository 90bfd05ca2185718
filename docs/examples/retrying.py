"""Retry: each message fails twice, then succeeds on its third attempt."""

import asyncio

from doozer import Abort, Application
from doozer.contrib.retry import Retry, RetryableException


class QueueConsumer:
    """Read messages from a queue; end once it is empty and nothing is pending."""

    def __init__(self, messages):
        self.queue = asyncio.Queue()
        for message in messages:
            self.queue.put_nowait(message)

    async def read(self):
        try:
            return await asyncio.wait_for(self.queue.get(), timeout=0.5)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
            raise Abort("queue.idle", None) from None


async def callback(app, message):
    attempts = message.setdefault("attempts", 0) + 1
    message["attempts"] = attempts
    if attempts < 3:
        raise RetryableException(f"attempt {attempts} of {message['id']} failed")
    print(f"message {message['id']} succeeded on attempt {attempts}")


async def put_back(app, message):
    """RETRY_CALLBACK: make the message available again."""
    app.consumer.queue.put_nowait(message)


app = Application(
    "retrying",
    {"RETRY_CALLBACK": put_back, "RETRY_THRESHOLD": 5, "RETRY_DELAY": 0.01, "RETRY_BACKOFF": 2},
    consumer=QueueConsumer([{"id": 1}, {"id": 2}]),
    callback=callback,
)
Retry(app)


@app.error
async def give_up(app, message, exception):
    """Runs only once Retry stops retrying a message."""
    print(f"message {message['id']} failed for good: {exception}")


if __name__ == "__main__":
    app.run_forever(num_workers=2)
