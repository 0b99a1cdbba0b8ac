"""The command line, ``python -m mnist_models``: train, evaluate, curves, calibrate, ood,
read and room.

Each command lives in its own module (``train.py`` for the training commands,
``read.py``, ``room.py``); ``args.py`` holds what they share. Bad input gets one line
on stderr and exit status 2, never a traceback.

Only the module of the command asked for is imported: ``room`` needs neither PyTorch
nor the networks, so it starts in well under a second instead of about five.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from mnist_models.cli.parser import Parser

# command -> the module of mnist_models.cli that defines it (add_parsers(sub) registers
# every command of that module)
COMMANDS = {
    "train": "train",
    "evaluate": "train",
    "curves": "train",
    "calibrate": "train",
    "ood": "train",
    "read": "read",
    "room": "room",
}
DATA_DIR_ENV = "MNIST_DATA_DIR"  # mnist_models.data.DATA_DIR_ENV, without importing torch


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every argument checked as it is read.

    With a known ``command``, only that command's module is imported and registered;
    otherwise (no command, a typo, ``--help``) all of them are.
    """
    p = Parser(
        prog="python -m mnist_models",
        description="Command line: python -m mnist_models "
        "{train,evaluate,curves,calibrate,ood,read,room} ...",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder with the MNIST IDX files (default: ${DATA_DIR_ENV} "
        "or the bundled data/mnist)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        module = importlib.import_module(f"mnist_models.cli.{name}")
        register = getattr(module, "add_parsers", None) or module.add_parser
        register(sub)
    return p


def _command(argv: list[str]) -> str | None:
    """The command word of argv (after the global --data-dir), or None."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--data-dir":
            i += 2
            continue
        if word.startswith("--data-dir="):
            i += 1
            continue
        return None if word.startswith("-") else word
    return None


def main(argv: list[str] | None = None) -> None:
    """Run one command (sys.argv[1:] by default); exit status 2 with one line on bad input."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    a = build_parser(_command(argv)).parse_args(argv)
    a.func(a)
