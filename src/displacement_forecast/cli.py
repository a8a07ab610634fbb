"""The ``displacement-forecast`` command.

Each sub-command lives in its own module under ``displacement_forecast._cli`` and exposes
``add_parser(subparsers)`` (which sets ``func``). User mistakes (:class:`DataError`) are printed
as one line per problem, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from contextlib import contextmanager

from . import __version__
from .data.schema import DataError

#: This package's import name: a warning it raises is said without "(from ...)".
PACKAGE = (__package__ or "displacement_forecast").partition(".")[0]

#: Sub-command modules, in the order they appear in ``--help``.
COMMAND_MODULES = ("data_commands", "panel_command", "forecast_command", "fit_command", "backtest_command", "hub_command")


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose command-line mistakes are one ``error:`` line, as every other
    mistake is: ``error: command line: <argparse's message>; see displacement-forecast <command>
    --help`` (exit 2), instead of the usage block (about 17 lines for ``forecast``) and then the
    message. Sub-command parsers are of this class too (``add_subparsers`` uses the parent's)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        print(f"error: command line: {_one_line(message)}; see {self.prog} --help", file=sys.stderr)
        self.exit(2)

    def parse_args(self, args=None, namespace=None):  # noqa: D102
        # an unknown option after a command is found by the main parser: name the command's help
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            cmd = next((a.choices.get(getattr(ns, a.dest, None)) for a in self._actions
                        if isinstance(a, argparse._SubParsersAction)), None)
            (cmd or self).error(f"unrecognized arguments: {' '.join(extra)}")
        return ns


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="displacement-forecast",
        description="Forecast conflict-driven displacement by region and period, with scenarios.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"displacement_forecast._cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"displacement_forecast._cli.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code.

    Exit codes: 0 done; 2 a user mistake or an unusable environment (one ``error:`` line per
    problem, no traceback; output folders left as they were); 3 a fit that failed its
    diagnostics gate (outputs marked; ``--allow-unreliable`` accepts it); 130 interrupted (the
    message says what is on disk; an interrupt after every output folder was swapped in is a
    finished run: exit 0 with a note); 1 an internal error (one line; ``DF_DEBUG=1`` shows the
    traceback).
    """
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse printed its one-line error (_Parser.error), or --help
            return int(e.code or 0)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        from .forecast import staging
    except KeyboardInterrupt:  # while the libraries load: nothing was written yet
        print("interrupted; nothing written", file=sys.stderr)
        return 130

    staging.STATUS.clear()
    restore = _term_as_interrupt()
    restore_hook = _interrupts_from_callbacks()
    try:
        with _warnings_as_lines():
            return int(args.func(args) or 0)
    except DataError as e:
        if getattr(args, "data", None):  # forecast, fit, backtest: a problem found in the frame is in this file
            e = e.naming(str(args.data))
        for p in e.problems:
            print(f"error: {_one_line(str(p))}", file=sys.stderr)
        _print_disk_state()
        return 2
    except KeyboardInterrupt:
        if staging.all_complete():  # after the last swap the run is done: only the screen summary is cut
            print("note: interrupted after the run was complete; " + "; ".join(staging.status_lines()),
                  file=sys.stderr)
            return 0
        print("interrupted; " + ("; ".join(staging.status_lines()) or "nothing written"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the reader closed early: not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        where = e.filename or "output"
        print(f"error: {where}: {e.strerror or e}" + _os_hint(e), file=sys.stderr)
        _print_disk_state()
        return 2
    except MemoryError:
        print("error: out of memory; use fewer --draws, a shorter --horizon or fewer scenarios", file=sys.stderr)
        _print_disk_state()
        return 2
    except Exception as e:  # a bug of ours: one line, the traceback on request
        import os

        if os.environ.get("DF_DEBUG"):
            raise
        print(f"internal error: {type(e).__name__}: {_one_line(str(e))[:300]} "
              "(a bug; please report it; DF_DEBUG=1 shows the traceback)", file=sys.stderr)
        _print_disk_state()
        return 1
    finally:
        staging.release_claims()
        restore_hook()
        restore()


@contextmanager
def _warnings_as_lines():
    """A Python warning raised while a command runs (numpy's, a library's) is one ``warning:`` line,
    printed once per message, instead of the interpreter's file:line header and source line printed
    each time it recurs. The line is the message as a sentence, never a Python class name (it ended
    in ``(DataWarning)``): a library's own warning says which library (``(from statsmodels)``).
    ``DF_DEBUG=1`` keeps Python's own format."""
    import os
    import warnings

    if os.environ.get("DF_DEBUG"):
        yield
        return
    seen: set[tuple[str, str]] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        key = (category.__name__, str(message))
        if key not in seen:
            seen.add(key)
            top = category.__module__.partition(".")[0]  # ours and Python's own: the message alone
            # the package by its name: run as `python -m displacement_forecast.cli`, __name__ is "__main__"
            # and our own warnings ended "(from displacement_forecast)" (review 19)
            origin = "" if top in ("builtins", "warnings", "__main__", PACKAGE) else f" (from {top})"
            print(f"warning: {_one_line(str(message))}{origin}", file=file or sys.stderr)

    warnings.showwarning = show  # the filters stay as they are: what was silenced stays silent
    try:
        yield
    finally:
        warnings.showwarning = previous


def _interrupts_from_callbacks():
    """Ctrl-C (or SIGTERM) that lands inside a C library's callback is delivered again, not lost.

    A callback cannot raise: Python printed "Exception ignored on calling ctypes callback function
    ... Traceback ... KeyboardInterrupt" (numba's llvmlite, caching a compiled function) and the run
    went on as if nothing was pressed (``tests/test_reliability_stress.py``, 1 of 50 kills). This
    ``sys.unraisablehook`` prints nothing for an interrupt and sends SIGINT again from a helper
    thread, so it reaches the Python code the callback returns to (the usual exit 130 and its
    line); anything else goes to the previous hook. Returns a function that puts it back.
    """
    import _thread
    import os
    import signal

    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            # a bare thread: threading.Thread.start() waits for it, and the signal then hit the hook itself
            _thread.start_new_thread(os.kill, (os.getpid(), signal.SIGINT))
            return
        previous(unraisable)

    sys.unraisablehook = hook

    def restore() -> None:
        sys.unraisablehook = previous

    return restore


def _term_as_interrupt():
    """SIGTERM (a service manager stopping us) is handled like Ctrl-C: staged files are dropped.

    SIGINT inherited as *ignored* (a shell starts a background command ``cmd &`` that way when
    it has no job control, and Python keeps an inherited ``SIG_IGN``) is handled too: a
    ``kill -INT`` then stops the run with exit 130 and its one line instead of being silently
    ignored (a stopped run leaves its output folder as it was, so nothing is lost).

    Returns a function that puts the previous handlers back.
    """
    import signal
    import threading

    def nothing() -> None:
        return None

    if threading.current_thread() is not threading.main_thread():
        return nothing

    def _raise(signum, frame):
        raise KeyboardInterrupt

    restores = []
    for sig, ours, replace in ((signal.SIGTERM, _raise, (signal.SIG_DFL, None)),
                               (signal.SIGINT, signal.default_int_handler, (signal.SIG_IGN,))):
        try:
            old = signal.getsignal(sig)
            if old in replace:
                signal.signal(sig, ours)
                restores.append((sig, old))
        except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without SIGTERM
            continue

    def restore() -> None:
        for sig, old in restores:
            signal.signal(sig, old)

    return restore if restores else nothing


#: Characters that end a line for ``str.splitlines`` or a terminal, other than \n and \r (form feed,
#: vertical tab, file/group/record separators, NEL, Unicode line and paragraph separators) and the
#: other control characters: shown escaped (``\x0c``) where a cell echoed into a message holds one.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")


def _one_line(s: str) -> str:
    """``s`` on one line: line breaks become spaces, other control characters are shown escaped
    (a cell holding a form feed split an error into two lines, one without ``error:``)."""
    s = " ".join(s.split()) if "\n" in s or "\r" in s else s
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], s)


def _os_hint(e: OSError) -> str:
    import errno

    return {errno.ENOSPC: "; free some space and run again",
            errno.EACCES: "; expected a location you can write to",
            errno.EROFS: "; expected a location you can write to",
            errno.EDQUOT: "; free some space and run again"}.get(e.errno or -1, "")


def _print_disk_state() -> None:
    from .forecast import staging

    for line in staging.status_lines():
        print(f"note: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
