"""Doozer's JetStream consumer vs a raw nats-py pull-and-ack loop vs FastStream."""
