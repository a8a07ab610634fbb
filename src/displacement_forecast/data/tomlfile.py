"""The one TOML reader: parsed document plus the line of every key, for one-line errors.

Scenario files, panel recipes and mapped-table configs are all read by :func:`read_toml`, so a
syntax error and a bad value are both reported as ``file:line: key 'x': ...``
(:class:`~.schema.Problem`). ``tomllib`` parses; it keeps no positions, so :class:`TomlDoc` scans
the text once for the line where each key is written (table headers ``[a]`` and ``[[a]]`` with
their array positions, ``key = value`` lines and dotted keys; keys inside an inline table or a
multi-line value are located at the line of the key that holds them).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io import read_text
from .schema import DataError, Problem

__all__ = ["TomlDoc", "parse_toml", "read_toml"]

Path_ = tuple[Hashable, ...]
_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = re.compile(rf"\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*")
_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass
class TomlDoc:
    """A parsed TOML file: ``data`` (what ``tomllib`` returns), ``file`` and key lines.

    ``line("scenario", 2, "change", 0, "start")`` is the 1-based line where that key is written
    (array-of-tables positions count from 0), or the line of the nearest enclosing table or key
    when the key itself is not written (a default), or None.
    """

    data: dict[str, Any]
    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: Hashable) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    def problem(self, path: tuple[Hashable, ...], message: str, key: str | None = None) -> Problem:
        """A :class:`Problem` at the line of ``path``, naming the key ``key`` (default: ``path`` dotted)."""
        name = key if key is not None else ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in path)
        return Problem(self.file, self.line(*path), name.replace(".[", "["), message, kind="key")


    def locate(self, problems: list[Problem]) -> list[Problem]:
        """``problems`` with the line of their key filled in where they have none (this file's
        problems only; the key is found by its name, the first place it is written)."""
        out = []
        for p in problems:
            if p.file == self.file and p.row is None and p.column:
                name = p.column.rsplit(".", 1)[-1]
                hits = [n for k, n in self.lines.items() if k and str(k[-1]) == name]
                p = Problem(p.file, min(hits) if hits else None, p.column, p.message, kind="key")
            out.append(p)
        return out


def read_toml(path: str | Path, *, what: str = "TOML file") -> TomlDoc:
    """Read and parse a TOML file; a syntax error is one line naming file and line.

    Raises
    ------
    DataError
        File missing or unreadable (:func:`.io.read_text`), or not valid TOML (``what`` names
        the kind of file in the message, e.g. ``"scenario file"``).
    """
    return parse_toml(read_text(path, expected=f"a {what} (TOML keys and tables)",
                                wanted=f"a {what} (TOML text)"), file=str(path), what=what)


def parse_toml(text: str, *, file: str = "<toml>", what: str = "TOML file") -> TomlDoc:
    """:func:`read_toml` on text already read."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _AT.search(msg)
        line = int(m.group(1)) if m else None
        raise DataError(Problem(file, line, None, f"not valid TOML ({what}): {_AT.sub('', msg).strip()}"
                                                  + (f" (column {m.group(2)})" if m else ""))) from None
    return TomlDoc(data, file, _key_lines(text))


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(_KEY, text)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _key_lines(text: str) -> dict[Path_, int]:
    """Line of every key and table header (see :class:`TomlDoc`)."""
    lines: dict[Path_, int] = {}
    counts: dict[Path_, int] = {}  # concrete path of an array of tables -> its next index
    base: Path_ = ()
    depth, in_string = 0, None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_string:  # inside a multi-line string: look for its end only
            if in_string in line:
                line = line.split(in_string, 1)[1]
                in_string = None
            else:
                continue
        if depth == 0:
            s = line.strip()
            head = re.match(r"\[\[\s*(.+?)\s*\]\]\s*(#.*)?$", s) or re.match(r"\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", s)
            if head:
                keys = _split_key(head.group(1))
                concrete = _concrete(keys[:-1], lines, counts)
                if s.startswith("[["):
                    arr = (*concrete, keys[-1])
                    i = counts.get(arr, 0)
                    counts[arr] = i + 1
                    lines.setdefault(arr, n)
                    base = (*arr, i)
                else:
                    base = (*concrete, keys[-1])
                lines[base] = n
                continue
            m = _DOTTED.match(line)
            if m and line[m.end():m.end() + 1] == "=" and line[m.end():m.end() + 2] != "==":
                key = (*base, *_split_key(m.group(1)))
                lines[key] = n
                line = line[m.end() + 1:]
            else:
                continue
        depth, in_string = _scan_value(line, depth)
    return lines


def _concrete(keys: tuple[str, ...], lines: dict[Path_, int], counts: dict[Path_, int]) -> Path_:
    """``("scenario", "change")`` -> ``("scenario", 2, "change")``: the last element of each array of tables."""
    out: Path_ = ()
    for k in keys:
        out = (*out, k)
        if out in counts:
            out = (*out, counts[out] - 1)
    return out


def _scan_value(text: str, depth: int) -> tuple[int, str | None]:
    """Bracket depth after ``text`` (strings and comments skipped); an open multi-line string."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "#":
            break
        if text.startswith('"""', i) or text.startswith("'''", i):
            q = text[i:i + 3]
            end = text.find(q, i + 3)
            if end < 0:
                return depth, q
            i = end + 3
            continue
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if c == '"' and text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, None
