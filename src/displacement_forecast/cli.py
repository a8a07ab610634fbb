"""The ``displacement-forecast`` command.

Each sub-command lives in its own module under ``displacement_forecast._cli`` and exposes
``add_parser(subparsers)`` (which sets ``func``). User mistakes (:class:`DataError`) are printed
as one line per problem, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .data.schema import DataError

#: Sub-command modules, in the order they appear in ``--help``.
COMMAND_MODULES = ("data_commands", "panel_command", "forecast_command", "fit_command", "backtest_command", "hub_command")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DataError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the reader closed early: not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
