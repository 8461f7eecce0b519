"""`aivc` command line: one subcommand per module in `aivc.commands`.

Every `AivcError` becomes one line on stderr and exit code 2 — never a traceback for bad
input. Each command module exposes `register(subparsers)` which sets `func(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from aivc.errors import AivcError

COMMANDS = ("evaluate", "anchors", "run", "get", "describe", "approve", "report", "operator")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All subcommands, or just `only` (the one being run: its imports are all we pay for)."""
    parser = argparse.ArgumentParser(prog="aivc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"aivc.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"aivc.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = argv[0] if argv else None
    args = build_parser(first if first in COMMANDS else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `aivc get experiments | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except AivcError as exc:
        print(f"aivc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aivc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
