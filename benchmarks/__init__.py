"""Doozer's performance suite: Doozer, a hand-written asyncio loop and Henson, side by side.

Run it with ``hatch run bench:all`` (see ``benchmarks/README.md``).
"""
