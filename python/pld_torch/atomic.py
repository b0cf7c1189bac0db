"""Crash-safe writes with the kit's protocol (src/util/atomic.ts, docs/checkpoint-format.md).

A file: write `.<name>.<pid>.<random>.tmp` beside it, fsync, rename over, fsync the folder.
A checkpoint directory: fill `<dir>.tmp-<pid>-<random>`, move `<dir>` to `<dir>.old`, rename the
temp directory to `<dir>`, remove `<dir>.old`; a reader uses `<dir>`, else `<dir>.old`.
"""
from __future__ import annotations

import os
import secrets
import shutil
from typing import Mapping, Optional


def _fsync_dir(d: str) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(file: str, data: bytes) -> None:
    with open(file, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_file_atomic(target: str, data: bytes) -> None:
    d, base = os.path.split(os.path.abspath(target))
    tmp = os.path.join(d, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(d)


def resolve_checkpoint_dir(d: str) -> Optional[str]:
    if os.path.isdir(d):
        return d
    return d + ".old" if os.path.isdir(d + ".old") else None


def write_dir_atomic(d: str, files: Mapping[str, bytes]) -> None:
    d = os.path.abspath(d)
    parent = os.path.dirname(d)
    os.makedirs(parent, exist_ok=True)
    old = d + ".old"
    if not os.path.isdir(d) and os.path.isdir(old):
        os.rename(old, d)  # a writer killed between its two renames left only the backup
    elif os.path.isdir(old):
        shutil.rmtree(old)
    tmp = f"{d}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(tmp)
    try:
        for name, data in files.items():
            _write_synced(os.path.join(tmp, name), data)
        _fsync_dir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.isdir(d):
        os.rename(d, old)
    os.rename(tmp, d)
    _fsync_dir(parent)
    if os.path.isdir(old):
        shutil.rmtree(old)
