"""RabbitMQ consume-and-acknowledge throughput: Doozer (doozer-amqp) and FastStream."""
