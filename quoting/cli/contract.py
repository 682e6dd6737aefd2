"""The command line's error contract: exit codes, the one-line user error, and argument types that refuse mistakes.

Every mistake a person can fix ends in ONE line ``smallfish <command>: error: <what is wrong; what to do>``:

- exit 2 (:data:`EXIT_USAGE`): usage or configuration (a bad option value, a path that does not exist, an unknown
  parameter set id, live mode without a key), raised as :class:`UserError` by a subcommand or by argparse
  through :class:`OneLineParser`;
- exit 1 (:data:`EXIT_FAILURE`): a runtime failure (the command started and something broke), printed as one line
  by ``quoting.cli.main``; the traceback only with ``smallfish --debug``.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class UserError(Exception):
    """A mistake the user can fix; ``str(error)`` says what was wrong and what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE, prog: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.prog = prog
        """The command to name in the message (default: the one that ran)."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a :class:`UserError` (one line, exit 2) instead of usage text on stderr.

    Subparsers made by ``add_subparsers`` inherit the class, so every subcommand follows the contract.
    """

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see {self.prog} --help)", EXIT_USAGE, self.prog)


def coin_name(text: str) -> str:
    """A Hyperliquid coin name (``BTC``, ``xyz:NVDA``, ``@107``, ``PURR/USDC``): non-empty, no spaces, not a path
    step."""
    if not text or text != text.strip() or any(c.isspace() for c in text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"not a coin name: {text!r}")
    return text


def coin_list(text: str) -> list[str]:
    """Comma-separated coin names, at least one."""
    coins = [coin_name(c) for c in text.split(",") if c]
    if not coins:
        raise argparse.ArgumentTypeError(f"name at least one coin: {text!r}")
    return coins


def _integer_from(text: str, minimum: int, bound: str) -> int:
    """``text`` as an integer of at least ``minimum`` (``bound`` says so in the error, e.g. "> 0")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _integer_from(text, 1, "> 0")


def non_negative_int(text: str) -> int:
    return _integer_from(text, 0, ">= 0")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def address(text: str) -> str:
    if not _ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not an address (0x and 40 hex digits): {text!r}")
    return text


def ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"not a WebSocket URL (ws:// or wss://): {text!r}")
    return text


def _check(env: str | None) -> str:
    return "check the option" if env is None else f"check the option or ${env}"


def existing_root(path: str, what: str, env: str | None) -> str:
    """``path`` if it is an existing directory (or an ``s3://`` URL); else a UserError naming the flag and ``env``,
    so that a mistyped root is an error rather than an empty result."""
    if path.startswith("s3://") or os.path.isdir(path):
        return path
    state = "is not a directory" if os.path.exists(path) else "does not exist"
    raise UserError(f"{what} {path!r} {state}: {_check(env)}")


def output_root(path: str, what: str, env: str | None) -> str:
    """``path`` if it is a writable directory, or can be made one in an existing writable parent (like ``mkdir``
    without ``-p``, so a mistyped parent is caught); else a UserError."""
    if path.startswith("s3://"):
        return path
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UserError(f"{what} {path!r} is not a directory: {_check(env)}")
        if not os.access(path, os.W_OK):
            raise UserError(f"{what} {path!r} is not writable: {_check(env)}")
        return path
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"{what} {path!r} cannot be created: its parent {parent!r} does not exist; {_check(env)}")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{what} {path!r} cannot be created in {parent!r} (not writable)")
    return path
