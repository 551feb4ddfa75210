"""Folders and tar archives, seen the same way: safe, bounded reading of a data source.

`open_tree(path)` lists a folder or a tar archive (any compression) as a `Tree` of files by
relative POSIX path. Nothing may leave the source: tar members with `..` or absolute names, and
hard or symbolic links out of an archive, are refused by name; a folder's links that lead
outside it are refused unless `follow_links`. Plain tars are read member by member from their
offsets; compressed ones are held in memory up to `MAX_IN_MEMORY` (a decompression bomb is
refused, not followed). Used by every image source (`cifar10_sources.py`, `images_to_tfrecord.py`).
"""

import io
import lzma
import os
import posixpath
import tarfile
import zlib


class ConversionError(ValueError):
    """A conversion cannot go ahead; the message is one line naming what is wrong."""


class SourceError(ConversionError):
    """The source is missing, unreadable or not CIFAR-10 in a supported form."""


def first_line(error):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _ignored(name):
    # Finder / archiver litter, never data.
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


class Tree:
    """The files of a folder or of a tar archive, by relative POSIX path, in sorted order."""

    def __init__(self, where, files, is_archive):
        self.where = where
        self.is_archive = is_archive
        self._files = files  # name -> bytes or a reader (archives) or absolute path (folders)
        self.names = sorted(files)

    def __contains__(self, name):
        return name in self._files

    def data(self, name):
        """The file's bytes, or a callable that reads them when needed (folders, plain tars)."""
        value = self._files[name]
        if self.is_archive:
            return value
        return _FileReader(value)

    def read(self, name):
        value = self.data(name)
        return value() if callable(value) else value

    def where_of(self, name):
        return f"{self.where}:{name}" if self.is_archive else os.path.join(self.where, name)


class _FileReader:
    """A callable reading one file of a folder; picklable, so an `Example` can travel to a Beam worker."""

    def __init__(self, path):
        self.path = path

    def __call__(self):
        return _read_file(self.path)


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({first_line(e)})") from None


# A compressed tar is read into memory (seeking in a compressed stream is a re-read from its
# start); past this many bytes it is refused rather than risk a decompression bomb. Plain tars
# are read member by member, from their offsets, however large.
MAX_IN_MEMORY = 1 << 30
MAX_MEMBER = 256 << 20  # no CIFAR-10 file (image or batch) comes near it


def open_tree(path, follow_links=False):
    """Lists a folder or a tar archive (any compression), checking that nothing leaves it.

    Args:
        path: a folder or tar archive.
        follow_links: read files reached through symbolic links that lead outside the folder
            (refused by default, naming the link).
    """
    if os.path.isdir(path):
        return Tree(path, _list_folder(path, follow_links), is_archive=False)
    if not os.path.isfile(path):
        raise SourceError(f"{path}: no such file or directory")
    return Tree(path, _read_tar(path), is_archive=True)


def _inside(root, target):
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _list_folder(path, follow_links):
    root = os.path.realpath(path)
    files, seen = {}, set()
    for folder, dirs, names in os.walk(path, followlinks=True):
        real = os.path.realpath(folder)
        if not follow_links and not _inside(root, real):
            raise SourceError(f"{folder}: a link that leads outside {path} (to {real}); "
                              "copy the files in, or pass --follow-links")
        if real in seen:  # a link back to a folder already read: a loop, or the same files twice
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in names:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if _ignored(rel) or not os.path.isfile(full):
                continue
            if not follow_links and not _inside(root, os.path.realpath(full)):
                raise SourceError(f"{full}: a link that leads outside {path} (to {os.path.realpath(full)}); "
                                  "copy the file in, or pass --follow-links")
            files[rel] = full
    return files


def _member_name(path, member):
    """The member's normalised name; `SourceError` for one that would land outside the archive."""
    name = posixpath.normpath(member.name).removeprefix("./")
    if member.name.startswith("/") or name == ".." or name.startswith("../"):
        raise SourceError(f"{path}: member {member.name!r} points outside the archive; refusing the archive")
    return name


def _read_tar(path):
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise SourceError(f"{path}: not a folder or a readable tar archive ({first_line(e)})") from None
    plain = isinstance(archive.fileobj, io.BufferedReader)  # not GzipFile, BZ2File, LZMAFile
    files, total = {}, 0
    try:
        with archive:
            for member in archive:
                name = _member_name(path, member)
                if member.issym() or member.islnk():
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname)
                                                if member.issym() else member.linkname)
                    if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
                        kind = "symbolic link" if member.issym() else "hard link"
                        raise SourceError(f"{path}: {kind} {name!r} -> {member.linkname!r} leads outside the archive; "
                                          "refusing the archive")
                if not (member.isfile() or member.islnk()) or _ignored(name):
                    continue
                if member.islnk() and target not in files:
                    raise SourceError(f"{path}: hard link {name!r} -> {member.linkname!r} names no earlier member")
                if name in files:
                    raise SourceError(f"{path}: duplicate member {name!r}")
                if member.islnk():
                    files[name] = files[target]
                    continue
                if member.size > MAX_MEMBER:
                    raise SourceError(f"{path}: member {name!r} is {member.size:,} bytes, past the "
                                      f"{MAX_MEMBER:,} a CIFAR-10 file can be; refusing the archive")
                if plain:
                    files[name] = _member_reader(path, member.offset_data, member.size, name)
                    continue
                total += member.size
                if total > MAX_IN_MEMORY:
                    raise SourceError(f"{path}: more than {MAX_IN_MEMORY:,} bytes once decompressed; "
                                      "decompress it to a plain .tar (read without that bound) or extract it")
                data = archive.extractfile(member).read()
                if len(data) != member.size:
                    raise SourceError(f"{path}: truncated archive ({name} is cut short)")
                files[name] = data
            _check_archive_end(archive, path)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise SourceError(f"{path}: truncated or corrupt tar archive ({first_line(e)})") from None
    return files


def _member_reader(path, offset, size, name):
    """A callable reading one member of a plain tar from its offset: one image in memory at a time."""
    return _MemberReader(path, offset, size, name)


class _MemberReader:
    """Reads one member of a plain tar; picklable, so an `Example` can travel to a Beam worker."""

    def __init__(self, path, offset, size, name):
        self.path, self.offset, self.size, self.name = path, offset, size, name

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(self.size)
        except OSError as e:
            raise SourceError(f"{self.path}: cannot read {self.name} ({first_line(e)})") from None
        if len(data) != self.size:
            raise SourceError(f"{self.path}: truncated archive ({self.name} is cut short)")
        return data


def _check_archive_end(archive, path):
    # tarfile treats a missing end-of-archive block as the end, so a tar cut at a member
    # boundary reads as a smaller, valid one. Demand the zero block, then read the compressed
    # stream to its end so that gzip/bz2/xz check their length and CRC.
    fileobj = archive.fileobj
    fileobj.seek(archive.offset)
    if fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise SourceError(f"{path}: truncated tar archive (no end-of-archive marker)")
    while fileobj.read(1 << 20):
        pass
