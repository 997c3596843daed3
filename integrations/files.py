"""Export files in storage: one NDJSON part is written to a local temporary file, then saved
under its final name through Django's storage API, so a django-storages backend works as well as
the local folder. On the local filesystem the temporary file sits in the same folder tree and
is moved into place (a rename, no copy); elsewhere the backend uploads it.

Names are `{job}/{Type}-{n}.ndjson` and `{job}/errors-{n}.ndjson`: fixed by the job's progress,
so writing a part again after a crash replaces the half-saved one instead of adding a copy.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import FileSystemStorage

from integrations.conf import export_storage

WRITE_BUFFER = 1024 * 1024


class _TemporaryFile(File):
    """A finished temporary file; FileSystemStorage moves a file that names its path."""

    def temporary_file_path(self) -> str:
        return str(self.name)


def part_name(job_id: str, resource_type: str, part: int) -> str:
    return f"{job_id}/{resource_type}-{part}.ndjson"


def error_name(job_id: str, part: int) -> str:
    return f"{job_id}/errors-{part}.ndjson"


def _temporary_folder() -> str | None:
    storage = export_storage()
    if isinstance(storage, FileSystemStorage):
        folder = Path(storage.location) / ".partial"
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)
    return None


class PartWriter:
    """Collects NDJSON lines in a temporary file: `write` counts lines and bytes, `save` stores
    the part under `name` and `discard` drops it. Memory stays at the write buffer."""

    def __init__(self) -> None:
        handle, path = tempfile.mkstemp(suffix=".ndjson", dir=_temporary_folder())
        self.path = path
        self.file: IO[str] = os.fdopen(handle, "w", encoding="utf-8", buffering=WRITE_BUFFER)
        self.count = 0
        self.size = 0

    def write(self, line: str) -> None:
        self.file.write(line)
        self.file.write("\n")
        self.count += 1
        self.size += len(line) + 1

    def save(self, name: str) -> None:
        self.file.close()
        storage = export_storage()
        if storage.exists(name):
            storage.delete(name)
        with open(self.path, "rb") as source:
            saved = storage.save(name, _TemporaryFile(source, name=self.path))
        if saved != name:
            raise RuntimeError(f"Storage saved {name} as {saved}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def write_lines(name: str, lines: Iterable[str]) -> int:
    """Save a small file of `lines` (the error files); return how many lines it holds."""
    writer = PartWriter()
    for line in lines:
        writer.write(line)
    writer.save(name)
    return writer.count


def open_file(name: str) -> IO[bytes]:
    """The stored file for streaming; FileNotFoundError when it is gone."""
    storage = export_storage()
    if not storage.exists(name):
        raise FileNotFoundError(name)
    handle: IO[bytes] = storage.open(name, "rb")
    return handle


def delete_job_files(job_id: str) -> int:
    """Delete every file of a job (including any a stopped worker left unrecorded)."""
    storage = export_storage()
    try:
        _, names = storage.listdir(job_id)
    except FileNotFoundError:
        return 0
    for name in names:
        storage.delete(f"{job_id}/{name}")
    _remove_empty_folder(job_id)
    return len(names)


def _remove_empty_folder(job_id: str) -> None:
    storage = export_storage()
    if isinstance(storage, FileSystemStorage):
        with contextlib.suppress(OSError):
            os.rmdir(storage.path(job_id))


def iter_file(name: str, *, chunk: int = 256 * 1024) -> Iterator[bytes]:
    with open_file(name) as handle:
        while block := handle.read(chunk):
            yield block
