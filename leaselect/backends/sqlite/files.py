"""The embedded store's files on disk: who may open them, and which file we opened.

Anyone who can open the database, its ``-wal`` or its ``-shm`` for reading can take a shared lock
on the ``-shm`` write-lock byte and freeze every renewal and campaign for as long as they like;
anyone who can write them can forge leases. So the files are created for their owner only and a
store that other users can open is refused, unless the URL accepts it with ``access=``:

- ``owner`` (default): files 0600, wake-up directory 0700, all owned by this process's user;
- ``group``: files 0660 and directory 2770 (sockets inherit its group); the group is trusted
  like the owner;
- ``all``: files 0666 and directory 1777; every local user is trusted (no protection at all).

The directory holding the database must not let untrusted users rename entries (writable by
them without the sticky bit). ``FileId`` is the device and inode of the database file: a store
whose path now names another file was deleted or replaced (see ``backend``).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from ...errors import ConfigError

ACCESS_OPTION = "access"


@dataclass(frozen=True)
class Access:
    """One ``access=`` level: the modes we create and the permission bits we refuse."""

    name: str
    file_mode: int
    dir_mode: int
    refused_bits: int  # permission bits for users outside the trusted set
    same_owner: bool


ACCESS = {
    "owner": Access("owner", 0o600, 0o700, 0o077, True),
    "group": Access("group", 0o660, 0o2770, 0o007, False),
    "all": Access("all", 0o666, 0o1777, 0, False),
}


@dataclass(frozen=True)
class FileId:
    """Which file a path named when we opened it."""

    device: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileId:
        return cls(st.st_dev, st.st_ino)


def parse_access(value: str | None) -> Access:
    """The ``access=`` URL option; ConfigError naming it for a bad value."""
    if value is None:
        return ACCESS["owner"]
    if value not in ACCESS:
        raise ConfigError(f"sqlite URL option access must be one of {', '.join(ACCESS)}")
    return ACCESS[value]


def create_database(path: str, access: Access) -> FileId:
    """Create the database file with ``access``'s mode if missing; check it and its directory."""
    _check_directory(os.path.dirname(path) or ".", access)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, access.file_mode)
    except FileExistsError:
        # stat, never open and close: closing any descriptor of the file drops every POSIX
        # lock this process holds on it, those of its other SQLite connections included
        st = os.stat(path)
    else:
        try:
            os.fchmod(fd, access.file_mode)  # exactly, whatever the umask
            st = os.fstat(fd)
        finally:
            os.close(fd)
    _check(path, "the database file", st, access, access.file_mode)
    return FileId.of(st)


def check_companions(path: str, access: Access) -> None:
    """Check the ``-wal`` and ``-shm`` files SQLite opened beside ``path``."""
    for suffix in ("-wal", "-shm"):
        try:
            st = os.stat(path + suffix)
        except FileNotFoundError:
            continue
        _check(path, f"its {suffix} file", st, access, access.file_mode)


def wake_directory(path: str, access: Access) -> str:
    """The directory of the store's wake-up sockets, created with ``access``'s mode."""
    directory = f"{path}-wake"
    try:
        os.mkdir(directory, access.dir_mode)
        os.chmod(directory, access.dir_mode)
    except FileExistsError:
        pass
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"sqlite store {path!r}: {directory!r} is not a directory")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == os.geteuid() and mode != access.dir_mode and not mode & access.refused_bits:
        os.chmod(directory, access.dir_mode)  # ours, narrower: give it exactly the mode asked for
        st = os.lstat(directory)
    # wider than allowed is refused, never narrowed: while it was open to others, any of them
    # could have bound a socket at a waiter's address in it
    _check(path, "its -wake directory", st, access, access.dir_mode)
    return directory


def current_id(path: str) -> FileId | None:
    """The file ``path`` names now, or None if there is none."""
    try:
        return FileId.of(os.stat(path))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _check_directory(directory: str, access: Access) -> None:
    st = os.stat(directory)
    writable = st.st_mode & access.refused_bits & 0o022
    if writable and not st.st_mode & stat.S_ISVTX:
        raise ConfigError(
            f"the directory {directory!r} of the sqlite store lets other users replace its files "
            f"(mode {stat.S_IMODE(st.st_mode):o}, no sticky bit); use a private directory, or "
            f"accept this with the URL option {ACCESS_OPTION}=all"
        )


def _check(path: str, what: str, st: os.stat_result, access: Access, expected: int) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if mode & access.refused_bits:
        raise ConfigError(
            f"sqlite store {path!r}: {what} has mode {mode:o}, so other users can open it (a "
            f"reader can freeze every election); chmod it to {expected:o}, or "
            f"accept this with the URL option {ACCESS_OPTION}={_wider(access)}"
        )
    if access.same_owner and st.st_uid != os.geteuid():
        raise ConfigError(
            f"sqlite store {path!r}: {what} belongs to uid {st.st_uid}, not to this process's "
            f"uid {os.geteuid()}; its owner could freeze or forge elections. Use a store of your "
            f"own, or trust its group with the URL option {ACCESS_OPTION}=group"
        )


def _wider(access: Access) -> str:
    return "group" if access.name == "owner" else "all"
