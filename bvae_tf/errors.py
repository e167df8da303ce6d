"""User-facing errors and the one place every command turns them into one line and an exit code.

- :class:`UserError`: a mistake in what the user asked for (a flag, a file).
- :class:`ArgumentParser`: argparse with the same one-line ``error: ...`` (exit 2), negative
  or scientific-notation numbers (``--learning-rate -1e-3``) taken as option values, so they reach
  our own validation ("--learning-rate must be positive") instead of argparse's "expected one
  argument", and each flag's default shown in ``--help`` from the value itself (help texts never
  restate it, so it cannot go stale). Every command's parser is one of these (subcommands inherit it).
- :func:`run_cli`: runs a command's ``main``; a ``UserError`` or a file-system failure (permission
  denied, disk full, read-only file system: any ``OSError``) becomes ``error: ...`` and exit 2,
  Ctrl-C becomes ``interrupted`` (and the command's hint, e.g. how to resume) and exit 130.
"""

import argparse
import os
import re
import sys

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C

# Any number a user may type as a flag's value: -1, -.5, -1e-3, -2.5E+4, -inf, -nan.
_NUMBER = re.compile(r"^-(\d+\.?\d*(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?|inf(inity)?|nan)$", re.IGNORECASE)


class UserError(Exception):
    """A mistake in what the user asked for (a flag, a file): reported in one line, no traceback."""


def shown_default(action):
    """How ``--help`` states an argument's default: ``"10"``, ``"0.001"``, ``"0 1"``; ``None`` where
    there is nothing to state (no default, an off switch, an empty list, ``--help`` itself)."""
    default = action.default
    if default is None or default is False or default is argparse.SUPPRESS or default == []:
        return None
    values = default if isinstance(default, (list, tuple)) else [default]
    return " ".join(f"{value:g}" if isinstance(value, float) else str(value) for value in values)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds ``(default X)`` to a flag's help from its actual default, like argparse's
    ``ArgumentDefaultsHelpFormatter`` but without ``None`` / ``False`` / ``[]`` defaults and with
    numbers as typed; a help text that already says what its default means (``default: all``) is
    left as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = shown_default(action)
        if shown is None or "default" in text:
            return text
        return f"{text} (default {shown.replace('%', '%%')})"


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one ``error: <message> (...--help...)`` line on
    stderr and exit code 2 (no usage dump), which takes ``-1e-3``, ``-.5`` or ``-inf`` as a
    value rather than as an unknown flag (our parsers define no flag that looks like a number),
    and whose help shows each default (:class:`DefaultsHelpFormatter`). Subparsers made with
    ``add_subparsers`` are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NUMBER

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"error: {message} (run {self.prog} --help for usage)\n")


def file_error_message(error):
    """``<path>: <reason>`` for an ``OSError`` (``<path> -> <other path>: <reason>`` for a rename)."""
    reason = error.strerror or str(error) or type(error).__name__
    paths = [os.fspath(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' -> '.join(map(str, paths))}: {reason}" if paths else reason


def _tensorflow_file_error(error):
    """The message of a TensorFlow file-system error (it raises its own classes, not ``OSError``)."""
    if "tensorflow" not in sys.modules or not type(error).__module__.startswith("tensorflow"):
        return None
    message = (str(getattr(error, "message", "")) or str(error)).strip().splitlines()
    if type(error).__name__ == "PermissionDeniedError" or any(
        text in " ".join(message) for text in ("No space left on device", "Read-only file system")
    ):
        return message[0] if message else type(error).__name__
    return None


def run_cli(main, argv=None, interrupted=None):
    """Run a command's ``main(argv)`` and return its result, turning expected failures into one line.

    - :class:`UserError` -> ``error: <message>``, exit 2.
    - ``OSError`` anywhere (permission denied, disk full, read-only file system, ...) -> ``error:
      <path>: <reason>``, exit 2; also TensorFlow's own permission and disk-full errors.
    - ``KeyboardInterrupt`` (Ctrl-C) -> ``interrupted``, exit 130. ``interrupted`` adds to that
      line: a message, or a callable returning one (or None), called only then; e.g. the train
      command's "resume with ... --resume".
    """
    try:
        return main(argv)
    except UserError as error:
        _fail(f"error: {error}", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        hint = interrupted() if callable(interrupted) else interrupted
        _fail(f"interrupted; {hint}" if hint else "interrupted", EXIT_INTERRUPTED)
    except OSError as error:
        _fail(f"error: {file_error_message(error)}", EXIT_USER_ERROR)
    except Exception as error:
        message = _tensorflow_file_error(error)
        if message is None:
            raise
        _fail(f"error: {message}", EXIT_USER_ERROR)


def _fail(line, code):
    if sys.stdout.isatty():  # training's progress bar may hold the row: clear it, so the line starts a row
        sys.stdout.write("\r\033[K")
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)
    sys.exit(code)
