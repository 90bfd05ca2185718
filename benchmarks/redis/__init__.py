"""Redis Streams: doozer-redis against raw redis-py loops and FastStream."""
