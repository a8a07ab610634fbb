"""``panel``: build the observation panel from agency files, by recipe or by quick flags.

    displacement-forecast panel RECIPE.toml --out observations.csv
    displacement-forecast panel --events acled.csv --events-format acled --freq M \\
        --displacement prmn.csv --displacement-format mapped --displacement-config prmn.toml \\
        --regions regions.csv --out observations.csv

It reads every source with its registered loader, validates the panel at the recipe's
frequency, prints what it counted per source and series, and writes the tidy file atomically
(temporary file, then rename: never a half-written output), compressed when its name says so
(``--out observations.csv.gz``: gzip; ``.bz2``, ``.xz``, ``.zip``, ``.zst`` too, see
:func:`~..data.io.write_csv_atomic`). An existing ``--out`` is replaced
only when it is an earlier panel output (its header is the observation file's, see
:func:`is_panel_output`) or empty; any other file is refused before any source is read.
See :mod:`displacement_forecast.data.recipe`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from ..data.io import (
    check_writable_place,
    decompress_command,
    output_compression,
    plain_copy_name,
    plain_name,
    write_csv_atomic,
)
from ..data.loaders import LOADERS
from ..data.recipe import (
    LEVELS,
    Recipe,
    Source,
    build_panel,
    level_name,
    load_recipe,
    source_options,
)
from ..data.schema import (
    COLUMNS,
    KNOWN_SERIES,
    OPTIONAL_COLUMNS,
    PEOPLE_SERIES,
    DataError,
    DataWarning,
    Problem,
    freq_code,
)
from .data_commands import add_agency_args, agency_options, print_warnings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``panel``."""
    p = sub.add_parser(
        "panel", help="build the observation panel from agency files (recipe or quick flags)",
        description="Read conflict events and displacement figures as agencies deliver them and write one "
                    "tidy observation CSV. Give a recipe (TOML, see data/recipes/) or the quick flags.")
    p.add_argument("recipe", nargs="?", metavar="RECIPE.toml", help="recipe naming the sources")
    p.add_argument("--out", required=True, metavar="CSV", help="observation CSV to write")
    p.add_argument("--data-dir", metavar="DIR", help="folder the recipe's source paths are relative to "
                                                      "(overrides its `data` key)")
    q = p.add_argument_group("quick flags (instead of a recipe)")
    q.add_argument("--events", metavar="FILE", help="conflict events file")
    q.add_argument("--events-format", type=str.lower, choices=[k for k, v in LOADERS.items() if v.kind == "events"] + ["hxl"],
                   default="acled")
    q.add_argument("--displacement", metavar="FILE", action="append", default=[],
                   help="displacement file (repeatable)")
    q.add_argument("--displacement-format", type=str.lower, choices=[k for k, v in LOADERS.items() if v.kind != "events"], default="tidy")
    q.add_argument("--displacement-config", metavar="TOML", action="append", default=[],
                   help="mapping config for each --displacement of format mapped (in the same order)")
    q.add_argument("--rename", metavar="SERIES=NEW", action="append", default=[],
                   help="read a series of the --displacement files under another name, e.g. refugees=displaced "
                        "(displaced is what forecast forecasts; a recipe's rename = {...}); repeatable")
    q.add_argument("--regions", metavar="CSV", help="region table")
    q.add_argument("--freq", choices=("D", "W", "M"), type=freq_code, help="frequency of the panel")
    q.add_argument("--level", choices=tuple(LEVELS), type=level_name, default="admin1",
                   help="admin level of the event regions")
    # the options of validate/describe, for every source that takes them (the command line wins over the recipe)
    add_agency_args(p.add_argument_group("reading the sources (every source that takes the option)"))
    p.set_defaults(func=run_panel)


def _quick_recipe(args: argparse.Namespace) -> Recipe:
    problems = []
    for flag in ("regions", "freq"):
        if getattr(args, flag) is None:
            problems.append(Problem("panel", None, f"--{flag}", f"--{flag} is needed without a recipe"))
    if not args.events and not args.displacement:
        problems.append(Problem("panel", None, None, "give a RECIPE.toml, or --events and/or --displacement files"))
    if args.displacement_format == "mapped" and len(args.displacement_config) != len(args.displacement):
        problems.append(Problem("panel", None, "--displacement-config",
                                "give one --displacement-config per --displacement of format mapped"))
    rename = {}
    for pair in args.rename:
        old, sep, new = (part.strip() for part in pair.partition("="))
        if not sep or not old or new not in KNOWN_SERIES:
            problems.append(Problem("command line", None, "--rename", f"--rename {pair!r}; expected SERIES=NEW with NEW "
                                    f"one of {', '.join(KNOWN_SERIES)} (e.g. --rename refugees=displaced)"))
        rename[old] = new
    if args.rename and not args.displacement:
        problems.append(Problem("command line", None, "--rename", "renames series of the --displacement files; "
                                "give --displacement or drop it"))
    if problems:
        raise DataError(problems)
    sources = []
    if args.events:
        # freq given as the source's own: an HXL event list is summed to the panel's frequency too
        opts = source_options(args.events_format, {"freq": args.freq}, freq=args.freq, level=args.level)
        sources.append(Source(Path(args.events).name, args.events_format, Path(args.events), opts))
    for k, f in enumerate(args.displacement):
        opts = {"config": Path(args.displacement_config[k])} if args.displacement_format == "mapped" else {}
        # as in a recipe: a tidy file is read at --freq (its own lines named), a table of counts checked after
        opts = source_options(args.displacement_format, opts, freq=args.freq)
        sources.append(Source(Path(f).name, args.displacement_format, Path(f), opts, dict(rename)))
    return Recipe(None, Path(args.regions), args.freq, sources)


def is_panel_output(path: Path) -> bool:
    """Whether the existing file ``path`` may be replaced by ``panel --out``: an earlier panel's
    output, told by its header being exactly the observation file's (``date,region,series,value``,
    optionally ``,source``; a UTF-8 BOM allowed, a gzip-compressed file read too), or an empty
    file. Anything else (a region table, a source file, a document) is not.
    """
    if path.stat().st_size == 0:
        return True
    for compression in (None, "infer"):  # a .gz is a gzip since panel compresses as the name says; plain before
        try:
            header = tuple(pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8-sig",
                                       compression=compression).columns)
        except Exception:  # noqa: BLE001 - whatever cannot be read as a CSV header is not a panel
            continue
        if header in (COLUMNS, (*COLUMNS, *OPTIONAL_COLUMNS)):
            return True
    return False


def check_panel_out(out: Path, inputs: list[Path]) -> None:
    """Refuse an ``--out`` that is one of the panel's ``inputs``, an existing file that is not
    an earlier panel output (:func:`is_panel_output`), a compression that cannot be written
    (:func:`~..data.io.output_compression`: ``.zst`` without zstandard), or a place that cannot be
    written (inside a file, an unwritable folder: :func:`~..data.io.check_writable_place`), before
    any source is read.

    Raises
    ------
    DataError
        One line naming ``--out`` and what was expected.
    """
    output_compression(out)
    check_writable_place(out, option="--out")  # was the OSError after every source was read, naming a temp file
    if any(out.resolve() == Path(p).resolve() for p in inputs):  # was overwritten by the panel it fed
        raise DataError(Problem(str(out), None, "--out", "is one of the files this panel is built from (a source, "
                                "config, region table or the recipe); expected a new file name"))
    if out.exists() and not is_panel_output(out):
        raise DataError(Problem(str(out), None, "--out",
                                f"is an existing file that is not an earlier panel output (its header is not "
                                f"{','.join(COLUMNS)}[,source]); expected a new file name or an earlier "
                                "panel's CSV: choose another --out"))


def _target_hint(recipe: Recipe, obs: pd.DataFrame) -> str:
    """What to do about a panel without ``displaced``, in the mode the user is in: a counted-people
    series it holds (``refugees``) is read as ``displaced`` with the quick flag
    ``--rename refugees=displaced`` or a recipe's ``rename = { refugees = "displaced" }``; with
    conflict series only, a displacement table is added (``--displacement FILE``, or a source in
    the recipe). It suggested ``--rename arrivals=displaced`` for a panel of ACLED events and
    fatalities alone (review 19): no such series, and no conflict count is a displacement count."""
    held = [s for s in PEOPLE_SERIES if s in set(obs["series"])]
    if not held:
        what = ", ".join(sorted(set(obs["series"])))
        add = ("add a displacement table (--displacement FILE --displacement-format FORMAT)" if recipe.file is None
               else f"add a source of displacement counts to {recipe.file}")
        return f"it holds conflict series only ({what}): {add}"
    name = held[0]
    how = (f"with --rename {name}=displaced" if recipe.file is None
           else f'in its source (rename = {{ {name} = "displaced" }})')
    return f"if {' or '.join(held)} is the target, read it as displaced {how}"


def run_panel(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise DataError(Problem(str(out), None, None, "--out is a folder; expected a CSV file name"))
    if args.recipe:
        recipe = load_recipe(args.recipe, data_dir=args.data_dir)
    else:
        recipe = _quick_recipe(args)
    inputs = [*([recipe.file] if recipe.file else []), recipe.regions, *(src.path for src in recipe.sources),
              *(v for src in recipe.sources for v in src.options.values() if isinstance(v, Path))]
    check_panel_out(out, inputs)  # nothing of the user's is replaced; before any source is read
    cli_opts = agency_options(args)
    for src in recipe.sources:  # the command line wins over the recipe
        src.options.update(LOADERS[src.format].takes(cli_opts))
        if src.path.exists() and src.path.stat().st_size > 20_000_000 and "progress" in LOADERS[src.format].options:
            src.options.setdefault("progress", True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            obs, regions, report = build_panel(recipe)
        finally:
            print_warnings(caught)
    print(f"{recipe.file or 'panel'}: {len(obs):,} rows, {obs['region'].nunique()} of {len(regions.codes)} regions, "
          f"{obs['date'].nunique()} periods ({recipe.freq}), {obs['date'].min().date()} to {obs['date'].max().date()}")
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print(report.to_string(index=False, formatters={"total": "{:,.0f}".format}))
    frame = obs.assign(date=obs["date"].dt.strftime("%Y-%m-%d"))
    write_csv_atomic(frame, out)
    kind = output_compression(out)
    how = f"a zip archive holding {plain_name(out)}" if kind == "zip" else f"{kind}-compressed"
    print(f"wrote {out}" + (f" ({how}, as its name says)" if kind else ""), file=sys.stderr)
    if "displaced" not in set(obs["series"]):
        print(f"note: {out} holds no 'displaced' series, which forecast, fit and backtest forecast; "
              f"{_target_hint(recipe, obs)}", file=sys.stderr)
    people = obs[obs["series"].isin(PEOPLE_SERIES) & (obs["value"] % 1 != 0) & obs["value"].notna()]
    if len(people):
        print(f"note: {len(people)} counts of people have decimals (sources declaring whole = false); read "
              f"{out} with --decimals (or put decimals: true in the front matter of a README.md beside it)",
              file=sys.stderr)
    if "displaced" in set(obs["series"]):  # without it forecast has nothing to forecast (note above)
        print(f"next: {next_command(out, recipe.regions, decimals=bool(len(people)), inputs=inputs)}",
              file=sys.stderr)
    return 0


def next_command(out: Path, regions: Path, *, decimals: bool, inputs: list[Path] | tuple[Path, ...] = ()) -> str:
    """The ``forecast`` command that reads the panel just written, as a user can paste it.

    ``forecast`` looks for ``regions.csv`` beside its data, and refuses non-whole counts of people
    without ``--decimals``: a panel built from a recipe needs both said, or its first forecast fails.

    Parameters
    ----------
    out : Path
        The observation CSV written.
    regions : Path
        The region table the panel was built with.
    decimals : bool
        Whether some counts of people have decimals.
    inputs : list of Path
        The files the panel was built from: a compressed ``OUT``'s decompressed copy is never
        written over one of them, nor over an existing file that is not an earlier panel output
        (:func:`is_panel_output`); it is then ``<stem>_panel.csv`` (``_panel_2.csv``, ... if taken).

    Returns
    -------
    str
        ``displacement-forecast forecast OUT [--regions CSV] [--decimals] --out DIR``, paths quoted
        for a POSIX shell and relative to the working folder when inside it; for a compressed
        ``OUT`` (``obs.csv.gz``), the command decompressing it comes first
        (``gunzip -c obs.csv.gz > obs.csv && displacement-forecast forecast obs.csv ...``).
    """
    import os
    import shlex

    def where(p: Path) -> str:
        rel = os.path.relpath(p.resolve())
        return p.as_posix() if rel.startswith("..") else rel

    def shown(p: Path) -> str:
        return shlex.quote(where(p))

    # the readers take plain text only (a compressed file gets the advice to decompress it): a
    # compressed panel is decompressed beside itself first
    # (was always the plain name: `--out regions.zip` beside the recipe's regions.csv, pasted, wrote over it)
    safe = {"keep": list(inputs), "replaceable": is_panel_output}
    undo = decompress_command(where(out), **safe)
    read = plain_copy_name(out, **safe, tag="_panel") if undo else out  # the name decompress_command chose
    words = ["displacement-forecast", "forecast", shown(read)]
    if regions.resolve() != (read.parent / "regions.csv").resolve():
        words += ["--regions", shown(regions)]
    if decimals:
        words.append("--decimals")
    return (f"{undo} && " if undo else "") + " ".join([*words, "--out", "DIR"])
