"""Panel recipes: one TOML file names the sources of an observation panel and how to read them.

A recipe is what an analyst keeps beside the files they receive: the conflict events (ACLED,
UCDP GED or HXL), the displacement figures (HXL, mapped tables with their configs, tidy files),
the region table, the frequency and the admin level. ``displacement-forecast panel RECIPE.toml
--out observations.csv`` reads every source with its registered loader (:data:`.loaders.LOADERS`),
checks the result against the schema and writes the tidy observation file.

Keys
----
Top level::

    description = "Somalia 2022-2023, region x month"   # free text
    regions = "../somalia/regions.csv"   # region table (relative to the recipe)
    freq = "M"                           # D, W or M: event sources are counted per period
    level = "admin1"                     # admin1 | admin2 | admin3 | country (event sources)
    complete_periods = false             # drop partial first/last periods of event data
    date_format = "%d/%m/%Y"             # default date format of every source that takes one
    data = "../../../shared/data/real"   # folder source paths are relative to (default: the recipe's)
    start = "2022-02-24"                 # keep periods from .. to (inclusive; optional)
    end = "2022-05-13"

``[[sources]]`` (one table per source)::

    name = "ACLED"                   # label in the report (default: the file name)
    format = "acled"                 # a registry name: tidy, acled, ucdp, hxl, mapped
    path = "somalia/00_ACLED.csv"    # relative to `data`
    config = "../configs/x.toml"     # mapped only (relative to the recipe)
    rename = { arrivals = "displaced" }   # series renamed after reading (the source column says so)
    # ... any option of the loader (see `displacement-forecast panel --help-format NAME`),
    # e.g. series_map, totals, start, end, flags, violence_types, tag_map, thousands, missing

Paths are relative to the recipe (``data``, ``regions``, ``config``) or to ``data`` (source
``path``). Every problem - unknown keys, missing files, bad options, clashes between sources - is
reported at once, one line each, before anything is read.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .aggregate import sum_complete_periods
from .loaders import LOADERS
from .loaders.common import PartialPeriodWarning, config_options
from .loaders.mapped import check_config
from .regions import RegionTable, load_regions
from .schema import (
    FREQUENCIES,
    KNOWN_SERIES,
    DataError,
    DataNote,
    Problem,
    check_observations,
    detect_frequency,
    freq_code,
    period_grid,
)
from .tomlfile import read_toml

__all__ = ["LEVELS", "Recipe", "Source", "build_panel", "count_report", "level_name", "load_recipe",
           "source_options"]

#: Admin level names of a recipe -> the column each event loader reads.
LEVELS: dict[str, dict[str, str]] = {
    "admin1": {"acled": "admin1", "ucdp": "adm_1"},
    "admin2": {"acled": "admin2", "ucdp": "adm_2"},
    "admin3": {"acled": "admin3"},
    "country": {"acled": "country", "ucdp": "country"},
}



def level_name(value: object) -> object:
    """An admin level as written (a recipe's ``level = "Admin1"``, ``--level ADMIN2``) as its
    :data:`LEVELS` name: any case, as format, frequency and model names are; anything else is
    returned as it is, for the caller to refuse."""
    return value.strip().lower() if isinstance(value, str) else value


TOP_KEYS: dict[str, type | tuple[type, ...]] = {
    "description": str, "regions": str, "freq": str, "level": str, "complete_periods": bool, "date_format": str,
    "data": str, "sources": list, "start": (str, datetime.date), "end": (str, datetime.date),
}
#: Keys every source may carry besides its loader's options.
SOURCE_KEYS = ("name", "format", "path", "rename")


@dataclass
class Source:
    """One source of a recipe, resolved: loader name, file, options, series renames."""

    name: str
    format: str
    path: Path
    options: dict = field(default_factory=dict)
    rename: dict[str, str] = field(default_factory=dict)


@dataclass
class Recipe:
    """A parsed recipe (:func:`load_recipe`), or the quick flags of ``panel`` (``file`` None)."""

    file: Path | None
    regions: Path
    freq: str
    sources: list[Source]
    description: str = ""
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    freq_line: int | None = None  # line of the recipe's freq key

    @property
    def name(self) -> str:
        """What the panel is built by, as messages name it: the recipe file, or the command line."""
        return str(self.file) if self.file is not None else "command line"

    def freq_setting(self, code: str | None = None) -> str:
        """How the frequency ``code`` (default: the panel's) is asked for: ``freq = "W"`` or ``--freq W``."""
        return f'freq = "{code or self.freq}"' if self.file is not None else f"--freq {code or self.freq}"

    @property
    def freq_asked(self) -> str:
        """Where the frequency was asked for: ``freq = "W" (recipe.toml:13)``, or ``--freq W``."""
        if self.file is None:
            return self.freq_setting()
        return f'{self.freq_setting()} ({self.file}{f":{self.freq_line}" if self.freq_line else ""})'


def load_recipe(path: str | Path, *, data_dir: str | Path | None = None) -> Recipe:
    """Read and check a recipe; paths resolved, every problem reported at once.

    Parameters
    ----------
    path
        The recipe TOML.
    data_dir
        Folder the source paths are relative to, overriding the recipe's ``data`` key (e.g. the
        real data kept elsewhere).

    Raises
    ------
    DataError
        Not TOML, unknown keys, wrong types, unknown formats or loader options, missing files.
    """
    file = Path(path)
    name = str(file)
    doc = read_toml(file, what="panel recipe")
    cfg = doc.data
    base = file.resolve().parent
    listed = cfg.get("sources") if isinstance(cfg.get("sources"), list) else []
    used = [f for f in (s.get("format") for s in listed if isinstance(s, Mapping))
            if isinstance(f, str) and f.lower() in LOADERS]
    used = [f.lower() for f in used] or list(LOADERS)  # no source format known yet: any
    source_keys = {*SOURCE_KEYS, *(k for f in used for k in LOADERS[f].options)}
    problems = []
    for key in cfg:  # a loader's option none of the recipe's sources reads: [[sources]] would not take it either
        readers = [f for f, loader in LOADERS.items() if key in loader.options]
        if key not in TOP_KEYS and key not in source_keys and readers:
            problems.append(Problem(name, doc.lines.get((key,)), key, f"unknown key {key!r} in the recipe; {key!r} is "
                                    f"read by sources of format {'/'.join(readers)} only (this recipe's: "
                                    f"{'/'.join(dict.fromkeys(used))})", kind="key"))
    problems += config_options({k: v for k, v in cfg.items() if k not in {p.column for p in problems}}, TOP_KEYS,
                               name, "the recipe", {"[[sources]]": source_keys}, lambda k: doc.lines.get((k,)))
    for key in ("regions", "freq", "sources"):
        if key not in cfg:
            inside = [i for i, s in enumerate(listed) if isinstance(s, Mapping) and key in s]
            if inside:  # written, but inside a source: said where it belongs, at the line it is on
                problems.append(Problem(name, doc.line("sources", inside[0], key), key,
                                        f"missing key {key!r} at the top level of the recipe; {key!r} belongs at the "
                                        f"top level, not inside [[sources]] #{inside[0] + 1}", kind="key"))
            else:
                problems.append(Problem(name, None, key, f"missing key {key!r}"))
    if problems:
        raise DataError(doc.locate(problems))
    freq = freq_code(cfg["freq"])
    if freq not in FREQUENCIES:
        problems.append(Problem(name, doc.line("freq"), "freq", f"freq = {freq!r}; expected D, W or M"))
    level = level_name(cfg.get("level", "admin1"))  # level = "Admin1" was refused for its case alone
    if level not in LEVELS:
        problems.append(Problem(name, doc.line("level"), "level", f"level = {level!r}; expected one of {', '.join(LEVELS)}"))
    data = Path(data_dir) if data_dir is not None else (base / cfg.get("data", ".")).resolve()
    # a data folder that is not there: one line naming it and the option that fixes it (a clone
    # not beside ../shared said "source file ... not found" once per source)
    no_data = not data.is_dir()
    if no_data:
        n = len(listed)
        files = f"none of the {n} source files can" if n > 1 else "the source file cannot"
        if data_dir is not None:
            what = f"{data} is a file, not a folder" if data.exists() else f"folder {data} not found"
            problems.append(Problem("--data-dir", None, None, f"{what}; expected the folder the "
                                    "recipe's source paths are relative to"))
        else:
            given = f"data = {cfg['data']!r} in the recipe, relative to its folder" if "data" in cfg \
                else "the recipe's own folder"
            what = f"data folder {data} is a file, not a folder" if data.exists() else f"data folder {data} not found"
            problems.append(Problem(name, doc.line("data") if "data" in cfg else None, "data",
                                    f"{what} ({given}), so {files} be read; give the "
                                    "folder that holds them with --data-dir DIR"))
    regions = base / cfg["regions"]
    if not regions.exists():
        problems.append(Problem(name, doc.line("regions"), "regions", f"region table {regions} not found"))
    sources = []
    absent: list[Problem] = []  # source files not found in a data folder that is there
    for k, src in enumerate(cfg["sources"], start=1):
        where = f"[[sources]] #{k}"

        def at(key: str, k: int = k) -> int | None:
            return doc.line("sources", k - 1, key)

        if not isinstance(src, Mapping):
            problems.append(Problem(name, at("sources"), "sources", f"{where} must be a table"))
            continue
        fmt = src.get("format")
        fmt = fmt.lower() if isinstance(fmt, str) else fmt  # format = "ACLED" names the acled loader
        if fmt not in LOADERS:
            problems.append(Problem(name, at("format"), "format", f"{where}: format = {fmt!r}; expected one of {', '.join(LOADERS)}"))
            continue
        loader = LOADERS[fmt]
        if "path" not in src:
            problems.append(Problem(name, at("path"), "path", f"{where}: missing key 'path'"))
            continue
        bad_type = [(k2, src[k2]) for k2 in ("path", "name") if k2 in src and not (isinstance(src[k2], str) and src[k2])]
        if bad_type:  # path = ["a.csv"] was an internal error (a list joined to a folder)
            problems += [Problem(name, at(k2), k2, f"{where}: {k2} = {v!r} has the wrong type; expected text (one "
                                 f"{'file name' if k2 == 'path' else 'name'})") for k2, v in bad_type]
            continue
        opts = {k2: v for k2, v in src.items() if k2 not in SOURCE_KEYS}
        unknown = [k2 for k2 in opts if k2 not in loader.options]
        problems += [Problem(name, at(k2), k2, f"{where}: unknown key {k2!r} for format {fmt!r}; "
                             + (f"{k2!r} belongs at the top level of the recipe" if k2 in TOP_KEYS else
                                f"expected {', '.join((*SOURCE_KEYS, *loader.options))}")) for k2 in unknown]
        typed = loader.option_problems({k2: v for k2, v in opts.items() if k2 not in unknown})
        problems += [Problem(name, at(k2), k2, f"{where}: {why}") for k2, why in typed.items()]
        opts = {k2: v for k2, v in opts.items() if k2 not in typed}
        rename = src.get("rename", {})
        if not isinstance(rename, Mapping) or any(v not in KNOWN_SERIES for v in rename.values()):
            problems.append(Problem(name, at("rename"), "rename", f"{where}: rename = {rename!r}; expected {{series = new series}} "
                                                          f"with series among {', '.join(KNOWN_SERIES)}"))
            rename = {}
        fpath = data / src["path"]
        if not no_data and not fpath.exists():
            absent.append(Problem(name, at("path"), "path", f"{where}: source file {fpath} not found"))
        if isinstance(opts.get("config"), Mapping):  # the mapping written inline: checked as a mapping file is
            problems += [Problem(name, at("config"), "config", f"{where}: {p.message}") for p in check_config(opts["config"])]
        elif "config" in opts:
            opts["config"] = base / opts["config"]
            if not opts["config"].exists():
                problems.append(Problem(name, at("config"), "config", f"{where}: config {opts['config']} not found"))
        opts = source_options(fmt, opts, freq=freq, level=level, complete_periods=cfg.get("complete_periods"),
                              date_format=cfg.get("date_format"))
        sources.append(Source(src.get("name", fpath.name), fmt, fpath, opts, dict(rename)))
    if len(absent) > 1 and len(absent) == len(listed):  # not one there: most likely the wrong folder, said once
        first = f"the first, {listed[0]['path']}, at {name}:{absent[0].row}"
        if data_dir is not None:
            problems.append(Problem("--data-dir", None, None, f"none of the {len(absent)} source files of {name} is "
                                    f"in {data} ({first}); expected the folder that holds them"))
        else:
            problems.append(Problem(name, doc.line("data") if "data" in cfg else None, "data",
                                    f"none of the {len(absent)} source files is in data folder {data} ({first}); "
                                    "give the folder that holds them with --data-dir DIR"))
    else:
        problems += absent
    window = {}
    for key in ("start", "end"):
        if key in cfg:
            try:
                window[key] = pd.Timestamp(pd.to_datetime(str(cfg[key]), format="%Y-%m-%d"))  # text or a TOML date
            except ValueError:
                problems.append(Problem(name, doc.line(key), key, f"{key} = {cfg[key]!r}; expected an ISO date YYYY-MM-DD"))
    if len(window) == 2 and window["end"] < window["start"]:
        problems.append(Problem(name, doc.line("end"), "end", f"end = {window['end'].date()} is before start = "
                                                              f"{window['start'].date()}; expected end on or after start"))
    if problems:
        raise DataError(doc.locate(problems))
    return Recipe(file, regions, freq, sources, cfg.get("description", ""), **window, freq_line=doc.line("freq"))


def source_options(fmt: str, options: Mapping, *, freq: str, level: str = "admin1",
                   complete_periods: bool | None = None, date_format: str | None = None) -> dict:
    """A source's loader options with the recipe-wide settings added, for the loaders that take them.

    ``level`` is a recipe level (:data:`LEVELS`), given to an event loader as its own column name;
    ``freq`` is not given to tables of counts (``measured``: read as they are, the frequency is
    checked on the panel). The source's own keys win.
    """
    loader = LOADERS[fmt]
    settings = {"freq": None if loader.kind == "measured" else freq, "level": LEVELS.get(level, {}).get(fmt),
                "complete_periods": complete_periods, "date_format": date_format}
    return {**loader.takes(settings), **options}


def build_panel(recipe: Recipe | str | Path, *, data_dir: str | Path | None = None,
                regions: RegionTable | None = None) -> tuple[pd.DataFrame, RegionTable, pd.DataFrame]:
    """Read every source of a recipe into one checked observation frame.

    Parameters
    ----------
    recipe
        A :class:`Recipe` or the path of one.
    data_dir
        Overrides the recipe's ``data`` folder.
    regions
        Region table to use instead of the recipe's (rarely needed).

    Returns
    -------
    (observations, regions, report)
        ``observations``: ``date, region, series, value, source``, sorted, validated at the
        recipe's frequency; ``report``: :func:`count_report` of it.

    Raises
    ------
    DataError
        Problems of every source (all sources are read before raising), and a (date, region,
        series) given by two sources, naming both.
    """
    rec = recipe if isinstance(recipe, Recipe) else load_recipe(recipe, data_dir=data_dir)
    regions = regions or load_regions(rec.regions)
    frames, problems = [], []
    renamed_from: set[str] = set()  # the series of the sources that rename some (--rename: every --displacement)
    for src in rec.sources:
        try:
            obs = _load(rec, src, regions)
        except DataError as e:
            problems += e.problems
            continue
        if src.rename:
            renamed_from.update(map(str, obs["series"].unique()))
        obs = _sum_daily_counts(rec, src, obs)  # a daily table in a weekly or monthly panel
        problems += _frequency_problems(rec, src, obs)
        obs["source"] = obs["source"] if "source" in obs.columns else src.name
        if src.rename:  # what was counted stays on every renamed row
            old = obs["series"].copy()
            obs["series"] = old.replace(src.rename)
            moved = old != obs["series"]
            obs["source"] = obs["source"].astype(object)
            obs.loc[moved, "source"] = (obs.loc[moved, "source"].astype(str) + " (series '" + old[moved]
                                        + "' read as '" + obs.loc[moved, "series"] + "')")
        frames.append(obs.assign(_from=src.name))
    if not problems and rec.file is None:  # --rename naming no series was silently ignored (review 19)
        asked = {k: v for src in rec.sources for k, v in src.rename.items()}
        problems += [Problem("command line", None, "--rename",
                             f"--rename {k}={v}: no series '{k}' in the --displacement files (series: "
                             f"{', '.join(sorted(renamed_from)) or 'none'})") for k, v in asked.items()
                     if k not in renamed_from]
    if problems:
        raise DataError(problems)
    allobs = pd.concat(frames, ignore_index=True)
    dup = allobs.duplicated(["date", "region", "series"], keep=False)
    if dup.any():
        clash = allobs[dup].groupby("series")["_from"].unique()
        raise DataError([Problem(rec.name, None, "sources" if rec.file else None,
                                 f"series {s!r} comes from more than one source ({', '.join(map(str, f))}); "
                                 f"rename one with rename = {{...}}{'' if rec.file else ' in a recipe'}")
                         for s, f in clash.items()])
    if rec.start is not None:
        allobs = allobs[allobs["date"] >= rec.start]
    if rec.end is not None:
        allobs = allobs[allobs["date"] <= rec.end]
    report = count_report(allobs.rename(columns={"_from": "from"}), rec.freq)
    out = allobs.drop(columns="_from")
    try:
        clean = check_observations(out, file=rec.name, region_codes=regions.codes, freq=rec.freq)
    except DataError as e:  # the panel's rows are no file's lines: the sources together are at fault
        names = ", ".join(src.name for src in rec.sources)
        raise DataError([Problem(rec.name, None, p.column, f"the panel of the sources ({names}): {p.message}",
                                 kind="column") for p in e.problems]) from None
    return clean, regions, report


#: Daily counts summed into the panel's periods: (period, how many days each holds).
_SUMMED = {"W": ("week", "7 days each"), "M": ("month", "28 to 31 days each")}


def _sum_daily_counts(rec: Recipe, src: Source, obs: pd.DataFrame) -> pd.DataFrame:
    """A table of daily counts (``mapped``, ``hxl``) in a weekly or monthly panel: summed into the
    panel's periods, whole periods only (:func:`~.aggregate.sum_complete_periods`), said in one
    :class:`~.schema.DataNote` naming the file, the days per period, and the periods left out at
    the edges or kept missing inside. Any other source is returned as it is (its frequency is
    checked by :func:`_frequency_problems`), as are event lists (counted at the panel's frequency).
    """
    if rec.freq not in _SUMMED or LOADERS[src.format].kind == "events" or obs.empty:
        return obs
    try:
        found = detect_frequency(pd.to_datetime(obs["date"]), file=str(src.path))
    except DataError:
        return obs  # _frequency_problems names it
    if found.code != "D":
        return obs
    summed, left_out, missing = sum_complete_periods(obs, rec.freq)
    unit, days = _SUMMED[rec.freq]
    shown = [p for p in left_out if _inside(rec, p)]  # periods the panel cuts anyway are not news

    def some(periods: list[pd.Timestamp]) -> str:
        return ", ".join(str(p.date()) for p in periods[:5]) + (", ..." if len(periods) > 5 else "")

    text = (f"{src.path}: daily counts summed into the panel's {unit}s ({rec.freq_setting()}; {days}); a {unit} "
            f"missing a day is left missing, never summed in part")
    if shown:
        text += f"; {len(shown)} {unit}{'s' if len(shown) > 1 else ''} at the edges the file covers only in part left out ({some(shown)})"
    if missing:
        text += f"; {len(missing)} {unit}{'s' if len(missing) > 1 else ''} kept missing ({some(missing)})"
    warnings.warn(text, DataNote, stacklevel=3)
    return summed


def _frequency_problems(rec: Recipe, src: Source, obs: pd.DataFrame) -> list[Problem]:
    """A source whose dates are not at the panel's frequency: one problem naming the source file
    and where the frequency was asked for (the recipe's ``freq`` key and its line, or ``--freq``).

    Event sources are counted at the frequency; tables of counts are read as they are, so their
    dates are checked here, each against its own file (the panel's rows are no file's lines).
    """
    dates = pd.to_datetime(obs["date"])
    dates = dates[(dates >= (rec.start or dates.min())) & (dates <= (rec.end or dates.max()))]  # as build_panel cuts
    if dates.empty:
        return []
    try:
        found = detect_frequency(dates, file=str(src.path))
    except DataError as e:
        return e.problems
    if found.code == rec.freq or rec.freq == "D":  # weekly or monthly labels fit a daily panel (schema._fits)
        return []
    return [Problem(str(src.path), None, "date",
                    f"dates from {dates.min().date()} to {dates.max().date()} are {found.label} but {rec.freq_asked} "
                    f"asks for {FREQUENCIES[rec.freq]} periods; expected a source at that frequency, or "
                    f"{rec.freq_setting(found.code)}")]


def _inside(rec: Recipe, period: pd.Timestamp) -> bool:
    """Whether the panel keeps ``period`` (the recipe's ``start``/``end``, as :func:`build_panel` cuts)."""
    return (rec.start is None or period >= rec.start) and (rec.end is None or period <= rec.end)


def _load(rec: Recipe, src: Source, regions: RegionTable) -> pd.DataFrame:
    """One source through its loader; its warnings about partly covered periods name only the
    periods the panel keeps (none: no warning)."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            where = str(rec.file) if rec.file else None  # quick flags: problems name the source file
            return LOADERS[src.format].load(src.path, regions, where=where, **src.options)
    finally:  # passed on (also when the loader raised), outside the block that recorded them
        for w in caught:
            msg = w.message
            if isinstance(msg, PartialPeriodWarning):
                msg = msg.only(lambda p: _inside(rec, p))
                if msg is None:
                    continue
            warnings.warn_explicit(msg, w.category, w.filename, w.lineno)


def count_report(obs: pd.DataFrame, freq: str | None = None) -> pd.DataFrame:
    """What was counted, per source and series: rows, regions, periods, first/last, total, missing.

    ``missing`` counts the region-periods without a value: with ``freq``, every period of the
    grid from the series' first to its last period, for each region the series has (a period
    with no row at all is missing, not only a row holding no number); without it, the rows
    holding no number.
    """
    by = ["from", "series"] if "from" in obs.columns else ["series"]
    rows = []
    for key, g in obs.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        first, last, n_regions = g["date"].min(), g["date"].max(), g["region"].nunique()
        if freq is not None:
            grid = pd.date_range(first, last, freq=period_grid(g["date"], freq))
            missing = n_regions * len(grid) - int(g.loc[g["date"].isin(grid), "value"].notna().sum())
        else:
            missing = int(g["value"].isna().sum())
        rows.append({**dict(zip(by, key, strict=True)), "rows": len(g), "regions": n_regions,
                     "periods": g["date"].nunique(), "first": first.date(), "last": last.date(),
                     "total": float(g["value"].sum()), "missing": missing})
    return pd.DataFrame(rows)
