"""The `jingwu` console script: Django's manage.py for this project."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jingwu.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    argv[0] = "jingwu"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
