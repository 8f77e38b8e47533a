"""Throwaway places on the machine's services for one benchmark run: a RabbitMQ vhost and a
PostgreSQL schema, removed afterwards whatever happened."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def vhost() -> Iterator[str]:
    name = f"rainbow-bench-{uuid.uuid4().hex[:8]}"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_vhost", name], check=True, capture_output=True)
    try:
        subprocess.run(
            [*ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run([*ctl, "delete_vhost", name], check=False, capture_output=True)


@contextmanager
def schema() -> Iterator[str]:
    name = f"rainbow_bench_{uuid.uuid4().hex[:8]}"
    psql = ["psql", "-h", "127.0.0.1", "-d", "test", "-q", "-c"]
    subprocess.run([*psql, f"CREATE SCHEMA {name}"], check=True)
    try:
        yield f"postgresql://root@127.0.0.1:5432/test?options=-c%20search_path%3D{name}"
    finally:
        quiet = "SET client_min_messages = warning"  # not one NOTICE per dropped table
        subprocess.run([*psql, f"{quiet}; DROP SCHEMA {name} CASCADE"], check=False)
