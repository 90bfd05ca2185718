"""A table, and ways to look at a test database from outside the application."""

from __future__ import annotations

import asyncio

from sqlalchemy import Integer, MetaData, String, func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class Row(Base):
    """One row per message."""

    __tablename__ = "rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message: Mapped[int] = mapped_column(Integer, index=True)
    note: Mapped[str] = mapped_column(String(50), default="")


async def count_rows(url: str, message: int | None = None) -> int:
    """How many rows (for *message*, or in all) a separate connection sees."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            query = select(func.count()).select_from(Row)
            if message is not None:
                query = query.where(Row.message == message)
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def messages_stored(url: str) -> list[int]:
    """The message of every row, sorted."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Row.message).order_by(Row.message))
            return list(rows.scalars())
    finally:
        await engine.dispose()


async def notes(url: str) -> list[tuple[int, str]]:
    """(message, note) of every row, by message."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(Row.message, Row.note).order_by(Row.message))
            return [(row.message, row.note) for row in result]
    finally:
        await engine.dispose()


def stored(url: str) -> list[int]:
    """:func:`messages_stored` for synchronous tests."""
    return asyncio.run(messages_stored(url))


async def create_tables(url: str) -> None:
    """Create the test table in the database at *url*."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()
