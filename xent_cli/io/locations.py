"""Where input files are: local paths, quoted globs, directories, and URIs.

``s3://``, ``gs://``, ``az://``/``abfs://``, ``hdfs://`` and ``file://`` go through
``pyarrow.fs`` (credentials and endpoints the usual way: ``AWS_ENDPOINT_URL``, profiles,
instance roles); ``http(s)://`` and any other scheme an installed fsspec plugin serves go
through fsspec. A directory (or a prefix) is searched recursively, in sorted path order;
hive-style ``key=value/`` folders are ordinary folders; hidden files and folders, names
starting with ``_`` (Spark's ``_SUCCESS``, ``_temporary/``) and ``*.crc`` are ignored.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from xent_cli.errors import XentError

ARROW_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss", "hdfs", "viewfs", "file")
GLOB_CHARACTERS = re.compile(r"[*?\[]")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(path: str) -> bool:
    return bool(_URI.match(path))


def is_ignored(name: str) -> bool:
    """Files and folders that hold no data: hidden, ``_SUCCESS``/``_temporary``, ``*.crc``."""
    return name.startswith((".", "_")) or name.endswith(".crc")


def filesystem(uri: str) -> tuple[Any, str]:
    """The filesystem serving ``uri`` and the path within it."""
    import pyarrow.fs as pafs

    scheme = urlsplit(uri).scheme.lower()
    try:
        if scheme in ARROW_SCHEMES:
            return cast("tuple[Any, str]", pafs.FileSystem.from_uri(uri))
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path
    except ImportError:
        raise XentError(
            f"{uri}: reading {scheme}:// needs fsspec (and, for http, aiohttp)",
            hint="pip install 'xent-cli[remote]'",
        ) from None
    except ValueError as error:  # no fsspec implementation for the scheme
        raise XentError(f"{uri}: cannot read {scheme}:// ({_short(error)})") from None
    except (OSError, RuntimeError) as error:
        raise remote_error(uri, error) from None


def remote_error(uri: str, error: BaseException) -> XentError:
    """An object store's error as one line that says what to check."""
    text = _short(error)
    lowered = text.lower()
    if "range requests" in lowered:
        return XentError(
            f"{uri}: the server does not answer range requests, which reading Parquet needs",
            hint=f"download it first: curl -o file.parquet '{uri}'",
        )
    if "access_denied" in lowered or "access denied" in lowered or "forbidden" in lowered:
        return XentError(f"{uri}: access denied (check AWS credentials)")
    if "invalidaccesskeyid" in lowered.replace(" ", "") or "signature" in lowered:
        return XentError(f"{uri}: access denied (check AWS credentials)")
    if (
        "no_such_bucket" in lowered
        or "nosuchbucket" in lowered
        or "bucket does not exist" in lowered
    ):
        return XentError(f"{uri}: no such bucket")
    if "not found" in lowered or "no such" in lowered or "404" in lowered:
        return XentError(f"{uri}: no such object")
    return XentError(f"{uri}: cannot read ({text})")


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def expand(paths: Sequence[str], is_data_file: Callable[[str], bool]) -> list[str]:
    """Each argument as the files it names, in order: ``-`` as is, a file as is, a directory
    or prefix as its data files, a glob as its matches (both sorted by path)."""
    expanded: list[str] = []
    for path in paths:
        if path == "-":
            expanded.append(path)
        elif is_uri(path) and not path.lower().startswith("file://"):
            expanded.extend(_expand_remote(path, is_data_file))
        else:
            local = path[len("file://") :] if path.lower().startswith("file://") else path
            expanded.extend(_expand_local(local, is_data_file))
    if not expanded:
        raise XentError("no input: give a file, a directory or - for standard input")
    return expanded


def _expand_local(path: str, is_data_file: Callable[[str], bool]) -> list[str]:
    if os.path.isdir(path):
        found: list[str] = []
        for root, folders, files in os.walk(path):
            folders[:] = sorted(f for f in folders if not is_ignored(f))
            found.extend(
                os.path.join(root, name)
                for name in files
                if not is_ignored(name) and is_data_file(name)
            )
        if not found:
            raise XentError(f"{path}: directory holds no CSV/TSV/Parquet/JSONL file")
        return sorted(found)
    if os.path.exists(path):
        return [path]
    if GLOB_CHARACTERS.search(path):
        matches = sorted(
            p
            for p in glob.glob(path, recursive=True)
            if os.path.isfile(p) and not is_ignored(os.path.basename(p))
        )
        if not matches:
            raise XentError(f"{path}: no file matches")
        return matches
    raise XentError(f"{path}: no such file")


def _expand_remote(uri: str, is_data_file: Callable[[str], bool]) -> list[str]:
    import pyarrow.fs as pafs

    parts = urlsplit(uri)
    prefix = f"{parts.scheme}://"
    glob_at = GLOB_CHARACTERS.search(uri)
    pattern: str | None = None
    if glob_at is None:
        fs, path = filesystem(uri)
        base = path.rstrip("/")
    else:  # the filesystem from the part before the first wildcard's folder
        base_uri = uri[: glob_at.start()].rsplit("/", 1)[0]
        fs, base = filesystem(base_uri)
        base = base.rstrip("/")
        pattern = base + uri[len(base_uri) :].split("?", 1)[0]
    try:
        if pattern is None:
            info = fs.get_file_info(base)
            if info.type == pafs.FileType.File:
                return [uri]
            if info.type == pafs.FileType.NotFound:
                raise XentError(f"{uri}: no such object")
        listing = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except XentError:
        raise
    except (OSError, RuntimeError) as error:
        raise remote_error(uri, error) from None
    files = sorted(
        f.path
        for f in listing
        if f.type == pafs.FileType.File
        and not any(is_ignored(part) for part in f.path[len(base) :].split("/") if part)
        and (fnmatch.fnmatchcase(f.path, pattern) if pattern else is_data_file(f.base_name))
    )
    if not files:
        what = "no object matches" if pattern else "holds no CSV/TSV/Parquet/JSONL file"
        raise XentError(f"{uri}: {what}")
    query = f"?{parts.query}" if parts.query else ""
    return [f if "://" in f else f"{prefix}{f}{query}" for f in files]
