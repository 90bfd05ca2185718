"""A RabbitMQ service that stores one row per message with the docs' upsert recipe.

``python -m doozer run tests.database.amqp_service -w N`` with
``DOOZER_TEST_AMQP_URL``, ``DOOZER_TEST_QUEUE``, ``DOOZER_TEST_DATABASE_URL``
and ``DOOZER_TEST_DELAY`` (seconds per message). It prints
``duplicate <id>`` for a message whose row was already committed (a
redelivery the upsert absorbed).
"""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from doozer import Application
from doozer.amqp import AMQP, Message
from doozer.contrib.database import Database

DELAY = float(os.environ.get("DOOZER_TEST_DELAY", "0"))


class Base(DeclarativeBase):
    pass


class Processed(Base):
    __tablename__ = "processed"

    message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    worker: Mapped[int] = mapped_column()


async def process(app: Application, message: Message) -> None:
    statement = insert(Processed).values(message_id=message.body.decode(), worker=os.getpid())
    result = await db.session.execute(
        statement.on_conflict_do_nothing(index_elements=["message_id"])
    )
    if DELAY:
        await asyncio.sleep(DELAY)
    if getattr(result, "rowcount", 1) == 0:
        print(f"duplicate {message.body.decode()}", flush=True)


async def create_tables(app: Application) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


app = Application(
    "db-amqp-service",
    {
        "AMQP_URL": os.environ["DOOZER_TEST_AMQP_URL"],
        "AMQP_INBOUND_QUEUE": os.environ["DOOZER_TEST_QUEUE"],
        "AMQP_PREFETCH_COUNT": 8,
        "DATABASE_URL": os.environ["DOOZER_TEST_DATABASE_URL"],
    },
    callback=process,
)
db = Database(app)
app.consumer = AMQP(app).consumer()
app.startup(create_tables)
