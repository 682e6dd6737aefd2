"""The API wallet that signs live orders: its key comes from ``SMALLFISH_API_KEY`` or from the file named by
``SMALLFISH_API_KEY_FILE``, which must be readable by its owner only (mode 0600 or 0400).

The key is never logged, printed or written anywhere: errors name the variable or the file, never the value, and
the environment variable is removed once read so that child processes do not inherit it. Removing it does not
erase it from ``/proc/<pid>/environ`` on Linux, which shows the environment the process started with for its whole
life (to its owner and root): the 0600 key file is the recommended route.
"""

from __future__ import annotations

import os
import stat

from eth_account import Account
from eth_account.signers.local import LocalAccount

KEY_ENV = "SMALLFISH_API_KEY"
KEY_FILE_ENV = "SMALLFISH_API_KEY_FILE"


class ApiKeyError(RuntimeError):
    """No usable API wallet key (missing, unsafe file permissions, or not a private key)."""


def _read_key_file(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ApiKeyError(f"{KEY_FILE_ENV}={path}: cannot stat the key file ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ApiKeyError(f"{KEY_FILE_ENV}={path}: not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ApiKeyError(f"{KEY_FILE_ENV}={path}: mode {mode:04o} lets others read it; chmod 600 it first")
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def load_api_wallet() -> LocalAccount:
    """The API wallet from the environment (the variable wins over the file); raises :class:`ApiKeyError`."""
    key = os.environ.pop(KEY_ENV, None)
    if not key:
        path = os.environ.get(KEY_FILE_ENV)
        if not path:
            raise ApiKeyError(f"live mode needs the API wallet key in {KEY_ENV} or a file named by {KEY_FILE_ENV}")
        key = _read_key_file(path)
    try:
        return Account.from_key(key.strip())
    except (ValueError, TypeError):
        raise ApiKeyError("the API wallet key is not a valid private key (value not shown)") from None
