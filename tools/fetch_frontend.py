"""Fetch the front-end libraries from the npm registry and copy their minified files
into jingwu/static/vendor/ (ignored by git; never pasted into the repo).

Versions are pinned in package.json and locked, with integrity hashes, in
package-lock.json. `npm ci --ignore-scripts` installs exactly the lock into
node_modules/ without running any package script. A stamp in the vendor folder
records the lock's hash, so a second run with nothing changed returns at once.

    python tools/fetch_frontend.py           # install when needed
    python tools/fetch_frontend.py --force   # reinstall and copy again
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "package-lock.json"
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "jingwu" / "static" / "vendor"
STAMP = VENDOR / ".stamp"

# file in node_modules → name under jingwu/static/vendor/
FILES = {
    "htmx.org/dist/htmx.min.js": "htmx.min.js",
    "echarts/dist/echarts.min.js": "echarts.min.js",
    "@picocss/pico/css/pico.blue.min.css": "pico.min.css",  # the blue variant, under the plain name
}


def _lock_digest() -> str:
    digest = hashlib.sha256(LOCK.read_bytes())
    for source, target in sorted(FILES.items()):
        digest.update(f"\n{source}>{target}".encode())
    return digest.hexdigest()


def _up_to_date(want: str) -> bool:
    return (STAMP.exists() and STAMP.read_text().strip() == want
            and all((VENDOR / target).is_file() for target in FILES.values()))


def _installed() -> bool:
    """node_modules already holds every file we copy, at the locked versions."""
    hidden_lock = NODE_MODULES / ".package-lock.json"
    if not hidden_lock.exists() or not all((NODE_MODULES / source).is_file() for source in FILES):
        return False
    return hidden_lock.stat().st_mtime >= LOCK.stat().st_mtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="reinstall and copy even when up to date")
    args = parser.parse_args(argv)

    want = _lock_digest()
    if not args.force and _up_to_date(want):
        return 0
    if args.force or not _installed():
        npm = shutil.which("npm")
        if npm is None:
            print("fetch_frontend: npm is not installed (Debian: apt-get install npm)", file=sys.stderr)
            return 1
        print("fetch_frontend: npm ci --ignore-scripts", flush=True)
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=ROOT, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, target in FILES.items():
        shutil.copyfile(NODE_MODULES / source, VENDOR / target)
    STAMP.write_text(want + "\n")
    print(f"fetch_frontend: {', '.join(sorted(FILES.values()))} → {VENDOR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
