"""The command line's parser and one-line error, with no heavy import (``room`` uses them
without PyTorch)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2, without the usage."""

    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str) -> NoReturn:
    """Print 'mnist_models: error: message' on stderr and exit with status 2."""
    sys.stderr.write(f"mnist_models: error: {message}\n")
    sys.exit(2)
