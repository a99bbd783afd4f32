"""Reading files a user or another program hands us: bounded, regular files only, errors that name them.

Every input file (memory files, SKILL.md folders, run folders and logs, ALFWorld game sources) is
read through :func:`read_bytes` or :func:`read_text`: a FIFO, a device or a folder is refused
before anything is opened for reading (a FIFO would block forever, ``/dev/zero`` never ends), a
file over the size bound is refused with its size, and the error names the file. Parsed JSON
is checked for depth (:func:`check_depth`) so that a deeply nested document is a format error,
not a ``RecursionError`` somewhere later, and text is checked to be encodable (a lone surrogate
loads from JSON but fails at the first write). :func:`excerpt` bounds what an error message
quotes.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from procmem_gym.errors import ProcMemError

__all__ = [
    "InputFileError",
    "read_bytes",
    "read_text",
    "excerpt",
    "check_depth",
    "check_text",
    "JsonRefusal",
    "check_json",
    "MAX_DEPTH",
    "open_bounded",
    "loads_strict",
]

#: Nesting deeper than this in a JSON document is a format error.
MAX_DEPTH = 64


class InputFileError(ProcMemError, ValueError):
    """An input file that cannot be read as asked: missing, not a regular file, too large, not UTF-8."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@contextmanager
def open_bounded(path: str | os.PathLike, limit: int, what: str = "file", mode: str = "rb") -> Iterator[IO[Any]]:
    """Open a regular file of at most ``limit`` bytes for reading (``mode`` ``"rb"`` or ``"r+b"``).

    Symlinks are followed, then checked: a FIFO, a device or a folder is refused before it is
    opened for reading (opened non-blocking, then checked again), so nothing can hang or never end.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputFileError(f"{p}: no such {what}") from None
    except OSError as err:
        raise InputFileError(f"{p}: cannot read the {what} ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{p}: the {what} is {_kind(st.st_mode)}, not a regular file; nothing was read")
    if st.st_size > limit:
        raise InputFileError(f"{p}: the {what} is {st.st_size:,} bytes, more than the {limit:,} allowed")
    flags = (os.O_RDWR if "+" in mode else os.O_RDONLY) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(p, flags)  # a FIFO swapped in cannot block
        f = os.fdopen(fd, mode)
    except OSError as err:
        raise InputFileError(f"{p}: cannot read the {what} ({err.strerror})") from None
    with f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped after the check
            raise InputFileError(f"{p}: the {what} is not a regular file; nothing was read")
        yield f


def read_bytes(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """Return the bytes of a regular file of at most ``limit`` bytes (symlinks are followed, then checked)."""
    p = Path(path)
    with open_bounded(p, limit, what) as f:
        try:
            # read what the file holds (a read of ``limit`` bytes would reserve them all up front), and a
            # file that grows while it is read is read on up to the bound
            data = f.read(min(limit, os.fstat(f.fileno()).st_size) + 1)
            while len(data) <= limit:
                more = f.read(min(limit + 1 - len(data), 1 << 20))
                if not more:
                    break
                data += more
        except OSError as err:
            raise InputFileError(f"{p}: cannot read the {what} ({err.strerror})") from None
    if len(data) > limit:
        raise InputFileError(f"{p}: the {what} grew past the {limit:,} bytes allowed while it was read")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads_strict(raw: bytes | str, limit: int = MAX_DEPTH) -> Any:
    """Return parsed JSON, refusing ``NaN``/``Infinity``, nesting deeper than ``limit`` and unpaired surrogates.

    Raises ``ValueError`` with the reason (callers name the file and line).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested more than {limit} levels deep") from None
    refusal = check_json(data, value, limit)
    if refusal is not None:
        raise ValueError(str(refusal))
    return value


def read_text(path: str | os.PathLike, limit: int, what: str = "file") -> str:
    """Return the UTF-8 text of a regular file of at most ``limit`` bytes."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(f"{Path(path)}: the {what} is not UTF-8 text (byte {err.start})") from None


def excerpt(value: Any, limit: int = 80) -> str:
    """Return ``repr(value)`` cut to about ``limit`` characters, for error messages.

    >>> excerpt("x" * 1000, 12)
    "'xxxxxxx... (1,002 characters)"
    """
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[: limit + 2])
    if len(text) <= limit:
        return text
    total = len(repr(value)) if not isinstance(value, str) else len(value) + 2
    return f"{text[: limit - 4]}... ({total:,} characters)"


def check_depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Return whether a parsed JSON value nests at most ``limit`` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def check_text(value: Any) -> str | None:
    """Return a short description of the first string in a parsed value that UTF-8 cannot encode, else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as err:
                return f"text with an unpaired surrogate ({excerpt(item[max(0, err.start - 20) : err.start + 1], 40)})"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


#: A JSON escape of a UTF-16 surrogate: the only way a parsed JSON string can hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def bracket_depth(raw: bytes) -> int:
    """Return how deeply the arrays and objects of a JSON text nest (brackets inside strings do not count).

    Vectorised over the bytes (a 66 MB memory file takes about 0.2 s, against a second for
    walking the parsed value): a quote is a string delimiter unless an odd run of backslashes
    precedes it, and a bracket counts when an even number of delimiters precede it.

    >>> bracket_depth(b'{"a": [1, {"b": "]]]"}], "c": "[x"}')
    3
    """
    import numpy as np

    data = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(data == 34)
    slashes = np.flatnonzero(data == 92)
    if len(slashes) and len(quotes):
        starts = np.flatnonzero(np.diff(slashes, prepend=-2) != 1)  # first backslash of each run
        ends = np.append(starts[1:], len(slashes)) - 1
        odd = (ends - starts) % 2 == 0  # runs of odd length escape the character after them
        quotes = quotes[~np.isin(quotes, slashes[ends[odd]] + 1)]
    brackets = np.flatnonzero((data == 91) | (data == 93) | (data == 123) | (data == 125))
    brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
    if not len(brackets):
        return 0
    kinds = data[brackets]
    return int(np.cumsum(np.where((kinds == 91) | (kinds == 123), 1, -1)).max())


@dataclass(frozen=True)
class JsonRefusal:
    """Why a parsed JSON value is refused: ``kind`` is ``"depth"`` or ``"text"``; ``str()`` is the reason."""

    kind: str
    reason: str

    def __str__(self) -> str:
        return self.reason


def check_json(raw: bytes, value: Any, limit: int = MAX_DEPTH) -> JsonRefusal | None:
    """Return why a parsed JSON ``value`` (parsed from ``raw``) is refused, or None when it is fine.

    The same checks as :func:`check_depth` and :func:`check_text`, answered from the raw bytes
    when they suffice (no bracket nesting near ``limit``, no surrogate escape); the walks over
    the parsed value run only otherwise.
    """
    if bracket_depth(raw) >= limit and not check_depth(value, limit):
        return JsonRefusal("depth", f"nested more than {limit} levels deep")
    if _SURROGATE_ESCAPE.search(raw):
        bad = check_text(value)
        return JsonRefusal("text", bad) if bad is not None else None
    return None
