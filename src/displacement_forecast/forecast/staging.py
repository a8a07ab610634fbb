"""All-or-nothing output folders: stage every file of a run beside ``--out``, then swap it in.

A run writes nothing into its output folder while it works. :func:`staged_folder` gives it an
empty *staging* folder beside the output (``.<name>.staging-<random>`` in the same parent, so the
same file system) and, only when the whole run succeeded, swaps it with the output folder:

1. On Linux, one ``renameat2(RENAME_EXCHANGE)`` system call exchanges the two folders
   atomically; the old run, now at the staging name, is then deleted.
2. Elsewhere (or on a file system without exchange), the old folder is renamed away
   (``.<name>.old-<pid>``), the new one renamed in, the old one deleted. Between the two renames
   the output path is briefly absent; a run killed exactly there leaves the old folder under the
   ``.old`` name, and the next run into the same folder renames it back before it starts.

**Guarantee.** A reader of the output folder sees either the earlier run's folder exactly as it
was, or every file of the new run and nothing else of the earlier run (its extra files, such as
``draws.parquet`` or ``forecast_hxl.csv`` that the new run does not make, are gone with it). A
run that fails, is interrupted (SIGINT) or is killed (SIGKILL) before the swap leaves the output
folder untouched; a stale staging folder it leaves beside it is removed by the next run. Files in
the output folder that no run writes (a user's notes) are carried over into the new folder. The
new folder takes the permissions of the folder it replaces (a ``chmod 750`` folder stays 750); a
folder made new gets the usual ones (``0o777`` minus the umask).

**Kinds.** A folder is replaced only by a run of the command that wrote it (:data:`RUN_KINDS`,
recognised by its marker file: ``forecast.json``/``datapackage.json``, ``model.json``,
``backtest.json``, ``hub-config``): ``forecast --out`` into a saved fit, ``fit --out`` into a
forecast folder, a hub into a backtest... are refused with one line before any work is done
(:func:`check_out_dir` with ``kind``), and :func:`staged_folder` checks again, by the files the run
wrote, before it swaps, so a caller that forgot ``kind`` cannot delete another command's folder.
A folder that is updated rather than replaced (a hub) must be new, empty or already of its kind:
a hub is never written beside the user's own files.

**Lock.** A second run into the same folder while the first holds it is refused at once with
one line (an ``fcntl`` lock on ``.<name>.lock`` beside the folder, released by the kernel when
the holder dies, so a killed run never leaves a stale lock). The holder deletes the lock file
while still holding the lock when it ends, so no file is left beside ``--out`` (only a killed
run leaves one, harmless and reused); a run that locked a file just deleted by the run before
it sees that the path no longer names its file and locks the new one. Commands take it when the run
starts, with :func:`claim_out_dir` (after the argument checks, before loading or fitting), so a
second run is refused before it spends minutes fitting; :func:`staged_folder` then finds the lock
already held by this process. :func:`release_claims` (called when a command ends) lets it go.

:func:`staged_folder` with ``copy_existing=True`` serves folders that a run *updates* rather than
replaces (a hubverse hub): the staging folder starts as a hard-linked copy of the existing one
(files are replaced by rename, never written in place, so the links never change the original).
Each folder is swapped on its own: a run writing both ``--out`` and ``--hub`` swaps the hub first,
then the forecast folder, so a run killed between the two swaps leaves the new hub beside the old
forecast folder (each of them complete).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..data.io import check_writable_place
from ..data.schema import DataError, Problem
from .writers import is_run_file

#: Names a run may write into its folder come from one list, ``writers.FILES`` and
#: ``writers.OTHER_FILES`` (:func:`~displacement_forecast.forecast.writers.is_run_file`). An
#: earlier run's file of such a name is dropped by a new run; anything else found in an existing
#: output folder is the user's and is carried over into the new folder.
#: What each command's output folder holds: kind -> (the files that mark such a folder, what a
#: folder holding them is called on screen, the folder the command expects). A folder holding a
#: marker is an earlier run's folder; it may be replaced by a run of the *same* kind only, so that
#: ``forecast --out`` never deletes a saved fit or a backtest (nor ``fit --out`` a forecast).
RUN_KINDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "forecast": (("forecast.json", "datapackage.json"), "a forecast", "a forecast folder"),
    "fit": (("model.json",), "a saved fit", "a folder written by `fit`"),
    "backtest": (("backtest.json",), "a backtest", "a folder written by `backtest`"),
    # updated, not replaced (``replace=False``): a hub never goes into another command's folder
    "hub": (("hub-config",), "a hubverse hub", "a hub folder"),
}
#: A folder holding one of these is taken to be an earlier run's folder.
RUN_MARKERS = tuple(m for markers, _, _ in RUN_KINDS.values() for m in markers)

#: What each folder staged in this process ended as, for the message printed on interruption.
STATUS: dict[str, str] = {}
#: The :data:`STATUS` of a folder swapped in.
COMPLETE = "holds the complete new run"

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def kinds_held(folder: Path) -> list[str]:
    """The kinds of run (keys of :data:`RUN_KINDS`) whose marker files ``folder`` holds."""
    return [k for k, (markers, _, _) in RUN_KINDS.items() if any((folder / m).exists() for m in markers)]


def check_kind(folder: Path, kind: str, *, option: str = "--out") -> None:
    """Refuse to replace ``folder`` when it holds an earlier run of another kind than ``kind``.

    Raises
    ------
    DataError
        One line naming the folder, what it holds (by its marker file) and what was expected.
    """
    for other in kinds_held(folder):
        if other != kind:
            markers, holds, _ = RUN_KINDS[other]
            found = next(m for m in markers if (folder / m).exists())
            raise DataError(Problem(str(folder), None, option,
                                    f"holds {holds} ({found}); expected {RUN_KINDS[kind][2]} or a new one: "
                                    f"choose another {option}"))


def check_out_dir(out: str | Path, *, option: str = "--out", replace: bool = True,
                  kind: str | None = None) -> Path:
    """Check that ``out`` can become an output folder, before any work is done.

    Parameters
    ----------
    out
        The output folder asked for.
    option
        Option name used in the message.
    replace
        Whether an existing folder will be replaced (forecast, fit) rather than updated (hub).
    kind
        What the run writes (a key of :data:`RUN_KINDS`): an existing folder holding an earlier
        run of another kind is refused. None: not checked here (:func:`staged_folder` then checks
        by what the run wrote, before the swap).

    Returns
    -------
    Path
        ``out`` as an absolute path.

    Raises
    ------
    DataError
        ``out`` is empty, an existing file, inside a file, or a folder that is read-only, whose
        parent cannot be written (the staging folder and lock live there), or a non-empty folder
        that is not an earlier run's output (``replace``) or, for a folder that is updated (not
        ``replace``: a hub), not an earlier run's folder of ``kind`` (a folder of the user's own
        files never gets a hub written into it), or is an earlier run of another ``kind``.
    """
    if kind is not None and kind not in RUN_KINDS:
        raise ValueError(f"unknown kind of run {kind!r}; expected one of {', '.join(RUN_KINDS)}")
    if out is None or str(out).strip() == "":
        raise DataError(Problem("command line", None, option, "empty path; expected an output folder"))
    # A symlink to a folder: the folder it points to is the one replaced (the link stays).
    p = Path(os.path.realpath(os.path.expanduser(str(out))))
    if p.exists() and not p.is_dir():
        raise DataError(Problem(str(p), None, option, "is a file; expected a folder (new or from an earlier run)"))
    check_writable_place(p, option=option, what="the output folder")  # the staging folder and lock go beside it
    if p.exists() and not os.access(p, os.W_OK | os.X_OK):
        raise DataError(Problem(str(p), None, option, "folder is read-only; expected a folder you can write to"))
    foreign = p.exists() and any(p.iterdir()) and not kinds_held(p)  # the user's own files, no run's
    if foreign and replace:
        raise DataError(Problem(str(p), None, option,
                                f"folder holds other files and no earlier run (no {', '.join(RUN_MARKERS[:-1])} or "
                                f"{RUN_MARKERS[-1]}); give a new or empty folder so nothing of yours is replaced"))
    if foreign:
        # a folder updated in place (a hub) takes only an earlier run's folder, never one of the user's own
        markers, holds, _ = RUN_KINDS[kind] if kind is not None else (RUN_MARKERS, "an earlier run's folder", "")
        existing = f"an existing {holds.split(' ', 1)[1]}" if kind is not None else "an earlier run's folder"
        raise DataError(Problem(str(p), None, option,
                                f"folder holds other files and is not {holds} (no {' or '.join(markers)}); "
                                f"give a new or empty folder, or {existing}"))
    if kind is not None and p.exists():
        check_kind(p, kind, option=option)
    return p


#: Output folders this process has claimed (:func:`claim_out_dir`): folder -> lock file descriptor.
_CLAIMED: dict[str, int] = {}


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def acquire_lock(lock: Path, *, wait: bool) -> int:
    """Open (creating it) and exclusively lock the file ``lock``; the descriptor, for
    :func:`release_lock`. POSIX ``flock``; elsewhere the file is opened but not locked.

    A holder deletes the lock file as it releases it (:func:`release_lock`), so after locking, the
    file is checked to still be the one the path names; if not, the new file is locked instead.

    Raises
    ------
    BlockingIOError
        ``wait`` is false and another process holds the lock.
    """
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise
        if _same_file(fd, lock):
            return fd
        os.close(fd)  # the holder before deleted it as it ended, after we opened it: lock the new file


def _lock(out: Path) -> int:
    """Open and lock ``.<name>.lock`` beside ``out``; the descriptor. Refuse at once if held."""
    lock = _lock_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return acquire_lock(lock, wait=False)
    except BlockingIOError:
        raise DataError(Problem(str(out), None, None,
                                "another run is writing this folder now (lock held on "
                                f"{lock.name}); wait for it to finish or choose another folder")) from None
    except OSError as e:  # named the lock file beside it ('/proc/.x.lock: No such file or directory')
        raise DataError(Problem(str(out), None, None, f"cannot write here ({e.strerror or e}); expected a "
                                "folder in a place you can write to")) from None


def _unlock(out: Path, fd: int) -> None:
    """Delete ``out``'s lock file while still holding the lock (if it is still ours), then release."""
    release_lock(_lock_path(out), fd)


def release_lock(lock: Path, fd: int) -> None:
    """Delete the lock file ``lock`` while still holding it through ``fd`` (if it still names the
    same file), then close ``fd``: no lock file is left, and a waiter that locked the deleted file
    sees it is gone (:func:`_same_file`) and locks the one the path now names."""
    if _same_file(fd, lock):
        try:
            os.unlink(lock)
        except OSError:
            pass
    os.close(fd)


def claim_out_dir(out: str | Path, *, option: str = "--out", replace: bool = True,
                  kind: str | None = None) -> Path:
    """Check ``out`` (:func:`check_out_dir`) and lock it for this run, before any work is done.

    The lock is held until :func:`release_claims` (the CLI calls it when the command ends, and
    the kernel drops it when the process dies); :func:`staged_folder` uses it rather than taking
    its own. Claiming a folder this process already holds is a no-op.

    Raises
    ------
    DataError
        ``out`` unusable (an earlier run of another ``kind`` among the reasons), or another run
        holds its lock (one line).
    """
    target = check_out_dir(out, option=option, replace=replace, kind=kind)
    if str(target) not in _CLAIMED:
        _CLAIMED[str(target)] = _lock(target)
    return target


def release_claims() -> None:
    """Release every folder lock taken by :func:`claim_out_dir` in this process."""
    while _CLAIMED:
        key, fd = _CLAIMED.popitem()
        _unlock(Path(key), fd)


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``out`` (``.<name>.lock`` beside it); refuse at once if held.

    A folder claimed by this process (:func:`claim_out_dir`) is already locked: nothing to take.
    """
    if str(out) in _CLAIMED:
        yield
        return
    fd = _lock(out)
    try:
        yield
    finally:
        _unlock(out, fd)


def recover(out: Path) -> None:
    """Undo what a killed run left beside ``out`` (call with the lock held)."""
    olds = sorted(out.parent.glob(f".{glob_escape(out.name)}.old-*"))
    if olds and not out.exists():
        os.rename(olds.pop(), out)  # killed between the two renames: the old folder goes back
    for d in olds + list(out.parent.glob(f".{glob_escape(out.name)}.staging-*")):
        shutil.rmtree(d, ignore_errors=True)


def glob_escape(name: str) -> str:
    """``name`` with glob characters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextmanager
def staged_folder(out: str | Path, *, copy_existing: bool = False, option: str = "--out",
                  kind: str | None = None) -> Iterator[Path]:
    """Yield an empty staging folder; swap it in as ``out`` when the block succeeds.

    Parameters
    ----------
    out
        The output folder (created if missing; checked with :func:`check_out_dir`).
    copy_existing
        Start the staging folder as a hard-linked copy of ``out`` (for folders that are updated,
        such as a hub). Otherwise it starts empty and the user's own files in ``out`` (names no
        run writes, see :func:`~displacement_forecast.forecast.writers.is_run_file`) are
        carried over at the swap.
    option
        Option name for messages.
    kind
        What the run writes (a key of :data:`RUN_KINDS`), checked against what ``out`` holds
        before the block runs. Whether given or not, before the swap the kinds the staging
        folder holds are checked against ``out`` too, so no command can replace another's
        folder.

    Raises
    ------
    DataError
        ``out`` unusable (see :func:`check_out_dir`; an earlier run of another kind among the
        reasons) or locked by another run.
    OSError
        Writing failed (for example the disk is full); ``out`` is left as it was.
    RuntimeError
        The run wrote a name that ``writers.FILES``/``OTHER_FILES`` do not list (a bug: the next
        run could not tell that file from the user's); ``out`` is left as it was.

    Notes
    -----
    On any exception (including ``KeyboardInterrupt``) the staging folder is deleted and ``out``
    is left as it was; :data:`STATUS` records, per folder, what is on disk afterwards.
    """
    target = check_out_dir(out, option=option, replace=not copy_existing, kind=kind)
    key = str(target)
    STATUS[key] = "left as it was (nothing written)"
    with folder_lock(target):
        recover(target)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
        os.chmod(stage, 0o777 & ~_umask())
        leftover = None
        try:
            if copy_existing and target.exists():
                shutil.rmtree(stage)
                shutil.copytree(target, stage, copy_function=os.link, symlinks=True)
            yield stage
            if not copy_existing:
                _check_run_files(stage)
                if target.exists():  # a run of another kind never replaces this folder, kind given or not
                    for k in [kind] if kind is not None else kinds_held(stage):
                        check_kind(target, k, option=option)
            if target.exists() and not copy_existing:
                _keep_modes(target, stage)
                _carry_over(target, stage)
            if target.exists():  # a private (chmod 750) folder stays private: the new one takes its mode
                os.chmod(stage, stat.S_IMODE(target.stat().st_mode))
            with _signals_held():  # the swap and its record happen together, never half
                leftover = _swap(stage, target)
                STATUS[key] = COMPLETE
        except BaseException:
            if STATUS[key] != COMPLETE:
                shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            if leftover is not None:  # the earlier run, even when interrupted right after the swap
                shutil.rmtree(leftover, ignore_errors=True)


def _check_run_files(stage: Path) -> None:
    """Refuse to swap in a file no list of run files declares (see ``writers.FILES``)."""
    unknown = sorted(p.name for p in stage.iterdir() if not is_run_file(p.name))
    if unknown:
        raise RuntimeError(f"the run wrote {', '.join(unknown)}, which forecast/writers/__init__.py "
                           "(FILES or OTHER_FILES) does not list; add it there so the next run replaces it")


def _keep_modes(old: Path, new: Path) -> None:
    """Give each file of ``new`` the mode of the file of the same name in ``old`` (a ``chmod 640``
    forecast.csv stays 640 across runs); files new to this run keep the mode they were written with."""
    for p in new.rglob("*"):
        if p.is_symlink() or not p.is_file():
            continue
        before = old / p.relative_to(new)
        if before.is_file() and not before.is_symlink():
            os.chmod(p, stat.S_IMODE(before.stat().st_mode))


def _carry_over(old: Path, new: Path) -> None:
    """Hard-link (or copy) the user's own files of ``old`` into ``new``."""
    for p in old.iterdir():
        if is_run_file(p.name) or (new / p.name).exists():
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.copytree(p, new / p.name, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(p, new / p.name)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _swap(stage: Path, target: Path) -> Path | None:
    """Make ``stage`` the folder at ``target``; return where the earlier folder now is (or None)."""
    if not target.exists():
        os.rename(stage, target)
        return None
    if _exchange(stage, target):
        return stage  # now holds the earlier run
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, old)
    os.rename(stage, target)
    return old


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block (delivered right after it); no-op off POSIX."""
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def final_paths(paths: list[Path], stage: Path, out: str | Path) -> list[Path]:
    """Where files written into ``stage`` are once it is swapped in as ``out``."""
    return [Path(out) / Path(p).relative_to(stage) if Path(p).is_relative_to(stage) else Path(p) for p in paths]


def as_final(text: str, stage: Path | None, out: str | Path) -> str:
    """``text`` (an error message) with the staging folder ``stage`` named as ``out``, the folder
    the user gave and will look in (the staging copy is gone by then); unchanged when ``stage`` is None."""
    return text if stage is None else text.replace(str(stage), str(out))


def all_complete() -> bool:
    """Whether this process staged at least one folder and swapped every one of them in."""
    return bool(STATUS) and all(v == COMPLETE for v in STATUS.values())


def status_lines() -> list[str]:
    """One phrase per folder staged in this process: what is on disk now."""
    return [f"{k} {v}" for k, v in STATUS.items()]
