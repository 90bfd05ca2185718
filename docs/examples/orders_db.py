"""Store each order once, even when its message is delivered twice (SQLite, no broker)."""

from sqlalchemy import String, func, select
from sqlalchemy.dialects.sqlite import insert  # on PostgreSQL: sqlalchemy.dialects.postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from doozer import Application
from doozer.contrib.database import Database
from doozer.testing import MemoryQueue


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    # The message's own id is the key: a redelivery finds its row already there.
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item: Mapped[str] = mapped_column(String(100))


async def store(app, message):
    order = message.body
    statement = insert(Order).values(message_id=order["id"], item=order["item"])
    await db.session.execute(statement.on_conflict_do_nothing(index_elements=["message_id"]))
    # No commit here: Database commits once the message succeeded.


async def create_tables(app):
    # A quickstart's shortcut: real services run `doozer --app orders_db db upgrade`.
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


async def report(app):
    async with db.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Order))
    print(f"{stored} orders stored")


orders = [
    {"id": "a1", "item": "radishes"},
    {"id": "a2", "item": "doozer sticks"},
    {"id": "a1", "item": "radishes"},  # delivered again: at-least-once
]
app = Application(
    "orders",
    {"DATABASE_URL": "sqlite+aiosqlite:///orders.db"},
    consumer=MemoryQueue(orders, close=True),  # stands in for a broker
    callback=store,
)
db = Database(app, metadata=Base.metadata)
app.startup(create_tables)
app.teardown(report)  # teardown callbacks run before the engine is disposed of


if __name__ == "__main__":
    app.run_forever(num_workers=2)
