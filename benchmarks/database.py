"""Benchmarks run on a database of their own: create it when DATABASE_URL names a
PostgreSQL database that does not exist yet, so the documented command works as is."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def ensure_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        return
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
