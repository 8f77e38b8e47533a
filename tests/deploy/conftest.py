"""The distributed tests' cluster (RabbitMQ vhost, PostgreSQL, `rainbow` processes)."""

from tests.distributed.conftest import broker_url, cluster

__all__ = ["broker_url", "cluster"]
