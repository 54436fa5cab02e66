"""Where the files an annotation file names may be: inside its image root, links followed.

A name with ``..``, an absolute name, or a link (of the file or of a folder on its way) that
resolves outside the root is refused, so that no export makes detkit read a file elsewhere.
Readers check thousands of names, so the root is resolved once, each folder once, and a name
costs one ``lstat`` unless the file itself is a link (os.path throughout: pathlib's ``resolve``
took 34 us a name against 10 us, building path objects, for the same answer).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from detkit.data.regular_files import kind_of
from detkit.exceptions import ConfigError

SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")  # the kernel's views: no dataset lives there, and walking them never ends
LIST_AFTER = 20_000  # names looked up in one folder before it is listed (a few thousand of a large folder are not)


def check_input_path(path: Path | str, key: str, fix: str) -> Path:
    """``path`` (given as ``key``, e.g. ``data.root``) if it is a folder or a regular file that
    detkit may read data from; else a `ConfigError` with ``fix``: it does not exist, it is a
    FIFO, a device or a socket, or it is the file system's root or a system folder (/proc,
    /sys, /dev), which no dataset is and whose walk would not end."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"{key}={path} does not exist; {fix}") from None
    except OSError as e:
        raise ConfigError(f"{key}={path}: cannot be read ({e.strerror}); {fix}") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise ConfigError(f"{key}={path}: {kind_of(mode)}, not a folder or a file; {fix}")
    if is_system_folder(path):
        raise ConfigError(f"{key}={path}: {os.path.realpath(path)} is a system folder, not a dataset; {fix}")
    return path


def is_system_folder(path: Path | str) -> bool:
    """Whether ``path``, links followed, is ``/`` or lies in /proc, /sys or /dev."""
    real = os.path.realpath(path)
    return real == os.sep or any(real == f or real.startswith(f + os.sep) for f in SYSTEM_FOLDERS)


def escapes_root(name: str) -> bool:
    """Whether a file name from an annotation file points outside its image root by itself: an
    absolute path or a ``..`` part (string operations: parsing each name with ``PurePosixPath``
    was a tenth of reading a 20,000-image file)."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or ".." in posix.split("/") or (len(name) > 1 and name[1] == ":")


def resolves_under(path: Path | str, real_root: str) -> bool:
    """Whether ``path``, links followed, lies under ``real_root`` (a root resolved with
    ``os.path.realpath``); a link loop does not."""
    real = os.path.realpath(path)
    try:
        os.stat(real)
    except OSError as e:
        if e.errno == errno.ELOOP:  # what pathlib's resolve raises RuntimeError for
            return False
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


class ImageRoot:
    """A folder that the names of one annotation file must stay inside."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = str(folder)
        self.real = os.path.realpath(folder)
        self._prefix = os.path.join(self.folder, "")  # + a relative name: os.path.join's answer, without its cost
        self._real_folders: dict[str, str | None] = {}  # a name's folder -> where it leads (None: outside)
        self._links: dict[str, dict[str, bool]] = {}  # a name's folder -> its entries -> whether each is a link
        self._asked: dict[str, int] = {}  # a name's folder -> how many of its names were looked up

    def path(self, name: str) -> str:
        """Where ``name`` is, as a string (a `Path` per name costs more than the check)."""
        return self._prefix + name

    def holds(self, name: str) -> bool:
        """Whether ``name`` stays inside the folder: not `escapes_root`, and neither the folders
        on its way nor the file itself is a link that resolves outside (or loops)."""
        return self.real_path(name) is not None

    def real_path(self, name: str) -> str | None:
        """Where ``name`` leads, links followed (``os.path.realpath``), if it stays inside; None
        if it does not (`holds`)."""
        if escapes_root(name):
            return None
        parent, base = os.path.split(name)
        if parent not in self._real_folders:
            folder = self.path(parent)
            self._real_folders[parent] = os.path.realpath(folder) if resolves_under(folder, self.real) else None
        real_parent = self._real_folders[parent]
        if real_parent is None:
            return None
        path = self.path(name)
        if not self._is_link(parent, base, path):
            return os.path.join(real_parent, base)
        return os.path.realpath(path) if resolves_under(path, self.real) else None

    def _is_link(self, parent: str, base: str, path: str) -> bool:
        """Whether the entry at ``path`` (``base`` in the folder ``parent``) is a link: its own
        ``lstat`` for a folder's first `LIST_AFTER` names, then from one listing of the folder
        (its entries' types come with it: 0.7 us an entry against 3 us a ``stat``), or for a name
        the listing does not hold as written (another case, where case is ignored) its ``lstat``."""
        asked = self._asked[parent] = self._asked.get(parent, 0) + 1
        if asked > LIST_AFTER and parent not in self._links:
            try:
                with os.scandir(self.path(parent) if parent else self.folder) as entries:
                    self._links[parent] = {entry.name: entry.is_symlink() for entry in entries}
            except OSError:  # no such folder: every name in it is missing, which the reader names
                self._links[parent] = {}
        linked = self._links[parent].get(base) if parent in self._links else None
        if linked is not None:
            return linked
        try:
            return stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:  # nothing there: it leads nowhere else, and the reader names what is missing
            return False
