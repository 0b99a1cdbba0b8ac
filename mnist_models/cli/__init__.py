"""The command line, ``python -m mnist_models``: train, evaluate, curves, calibrate, ood,
read and room.

Each command lives in its own module (``train.py`` for the training commands,
``read.py``, ``room.py``); ``args.py`` holds what they share. Bad input gets one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_models import data as mdata
from mnist_models.cli import read, room, train
from mnist_models.cli.args import Parser


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: every argument checked as it is read."""
    p = Parser(
        prog="python -m mnist_models",
        description="Command line: python -m mnist_models "
        "{train,evaluate,curves,calibrate,ood,read,room} ...",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder with the MNIST IDX files (default: ${mdata.DATA_DIR_ENV} "
        "or the bundled data/mnist)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    train.add_parsers(sub)
    read.add_parser(sub)
    room.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    """Run one command (sys.argv[1:] by default); exit status 2 with one line on bad input."""
    a = build_parser().parse_args(argv)
    a.func(a)
