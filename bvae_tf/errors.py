"""User-facing errors and the one place every command turns them into exit code 2."""

import sys


class UserError(Exception):
    """A mistake in what the user asked for (a flag, a file): reported in one line, no traceback."""


def run_cli(main, argv=None):
    """Run a command's ``main(argv)``; a :class:`UserError` becomes ``error: ...`` on stderr and exit 2."""
    try:
        return main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
