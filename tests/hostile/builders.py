"""Builders for hostile inputs, and a runner that holds the CLI to memory and time limits.

Standard library only, and the tests drive the command line only, so the same tests run
against any version of hostaudit (that is how each was shown to fail before its fix).
Big inputs are sparse files or streams of repeated compressed blocks: nothing here writes
or compresses gigabytes.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30
HOSTS = Path(__file__).parents[1] / "fixtures" / "hosts"
SOS = Path(__file__).parents[1] / "fixtures" / "sosreports" / "sosreport-hv01-2026-11-20-qkwztnb"
MEMORY = 512 * MiB  # address space for one CLI run: far above an honest audit's needs


class Run:
    """What one limited CLI run did."""

    def __init__(self, code: int | None, stdout: str, stderr: str) -> None:
        self.code = code  # None: killed at the clock's limit; -SIGXCPU: at the processor's
        self.stdout = stdout
        self.stderr = stderr

    @property
    def crashed(self) -> bool:
        """A traceback, or death by the limits: never a result."""
        return self.code is None or "Traceback" in self.stderr or self.code < 0

    def __repr__(self) -> str:
        return f"Run(code={self.code}, stderr={self.stderr[-600:]!r})"


def run(
    *args: str,
    memory: int = MEMORY,
    seconds: float = 60,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> Run:
    """`hostaudit ARGS` in a child process whose address space and run time are limited.

    `seconds` is processor time (RLIMIT_CPU: SIGXCPU beyond it), which other work on a busy
    machine does not eat into; a child that waits without working (a FIFO, a lock) is killed
    at ten times that on the clock."""
    cpu = math.ceil(seconds)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

    try:
        done = subprocess.run(
            [sys.executable, "-m", "auditor", *args],
            capture_output=True,
            preexec_fn=limit,
            timeout=seconds * 10,
            cwd=cwd,
            env=env,
            input=stdin,
        )
    except subprocess.TimeoutExpired as exc:
        return Run(None, _text(exc.stdout), _text(exc.stderr))
    return Run(done.returncode, _text(done.stdout), _text(done.stderr))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "backslashreplace")


def copy_root(name: str, target: Path) -> Path:
    """A writable copy of a fixture host root (links kept as links)."""
    shutil.copytree(HOSTS / name, target, symlinks=True)
    return target


def copy_sosreport(target: Path) -> Path:
    shutil.copytree(SOS, target / SOS.name, symlinks=True)
    return target / SOS.name


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk space (all holes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


# -- tar headers written by hand: tarfile refuses to write the broken ones ------------------


def header(name: str, kind: bytes = b"0", size: int = 0, target: str = "") -> bytes:
    """One ustar header block (POSIX), checksum included; `size` may claim anything."""
    raw = name.encode("utf-8", "surrogateescape")
    block = bytearray(512)
    block[0 : len(raw[:100])] = raw[:100]
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    if size < 8**11:
        block[124:136] = f"{size:011o}\0".encode()
    else:  # GNU base-256 for sizes octal cannot hold
        block[124:136] = b"\x80" + size.to_bytes(11, "big")
    block[136:148] = b"00000000000\0"
    block[148:156] = b" " * 8
    block[156:157] = kind
    link = target.encode()
    block[157 : 157 + len(link[:100])] = link[:100]
    block[257:265] = b"ustar\x0000"
    block[148:156] = f"{sum(block):06o}\0 ".encode()
    return bytes(block)


def member(name: str, data: bytes = b"", kind: bytes = b"0", target: str = "") -> bytes:
    """A complete member: header, data, padding."""
    return header(name, kind, len(data), target) + data + bytes(-len(data) % 512)


def pax(name: str, records: dict[str, str]) -> bytes:
    """A pax extended header member holding `records`."""
    body = b""
    for key, value in records.items():
        text = f" {key}={value}\n".encode()
        length = len(text) + len(str(len(text))) + 1
        if len(str(length)) + len(text) != length:
            length += 1
        body += str(length).encode() + text
    return member(name, body, kind=b"x")


END = bytes(1024)


def zeros_gzip(total: int, chunk: int = 64 * MiB) -> bytes:
    """gzip members that together decompress to `total` zero bytes (a member is compressed
    once and repeated: multi-member gzip is valid and Python reads it whole)."""
    one = gzip.compress(bytes(chunk), compresslevel=1, mtime=0)
    count, rest = divmod(total, chunk)
    tail = gzip.compress(bytes(rest), compresslevel=1, mtime=0) if rest else b""
    return one * count + tail


def zeros_bz2(total: int, chunk: int = 64 * MiB) -> bytes:
    """bzip2 streams that together decompress to `total` zero bytes."""
    one = bz2.compress(bytes(chunk), 1)
    count, rest = divmod(total, chunk)
    return one * count + (bz2.compress(bytes(rest), 1) if rest else b"")


def manifest(**changes: object) -> bytes:
    """A snapshot manifest as the collector writes it, with `changes` applied."""
    data: dict[str, object] = {
        "format": "hostaudit-snapshot",
        "format_version": 1,
        "tool_version": "0.1.0",
        "created": "2026-11-25T00:00:00Z",
        "collected_as_root": True,
        "python": "3.11.7",
        "root": "/",
        "live": False,
        "host": {"hostname": "h", "kernel_release": "6.1.0", "boot_time": 1, "machine_id": None},
        "reads": [],
        "kmsg": False,
        "unreadable": {},
        "listed_only": [],
    }
    data.update(changes)
    return json.dumps(data).encode()


def snapshot_archive(
    path: Path, manifest_bytes: bytes, files: dict[str, bytes] | None = None
) -> Path:
    """A gzip'd snapshot archive with this manifest and these files under root/."""
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("manifest.json", manifest_bytes)] + [
            (f"root/{key.lstrip('/')}", value) for key, value in (files or {}).items()
        ]:
            info = tarfile.TarInfo(f"hostaudit-snapshot/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if not files:
            info = tarfile.TarInfo("hostaudit-snapshot/root")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
    return path


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def is_root() -> bool:
    return os.geteuid() == 0
