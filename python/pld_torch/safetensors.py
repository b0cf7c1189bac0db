"""A small safetensors reader/writer (the format of docs/checkpoint-format.md), no `safetensors` package.

Writes F32 only, laid out as the kit writes: `__metadata__` first, tensors in the order given,
compact JSON padded with spaces to a multiple of 8. Reads F32, F16, BF16, F64 and the integer types
into float32 tensors, checking offsets like the reference implementation.
"""
from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np
import torch

from .atomic import write_file_atomic

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1"}


def encode(tensors: Sequence[Tuple[str, torch.Tensor]], metadata: Mapping[str, str] | None = None) -> bytes:
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, t in tensors:
        if name in header:
            raise ValueError(f"cannot encode safetensors: tensor {name} appears twice")
        a = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4", copy=False)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        chunks.append(b)
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf8")
    js += b" " * ((8 - len(js) % 8) % 8)
    return b"".join([struct.pack("<Q", len(js)), js, *chunks])


def write(file: str, tensors: Sequence[Tuple[str, torch.Tensor]], metadata: Mapping[str, str] | None = None) -> None:
    write_file_atomic(file, encode(tensors, metadata))


def read(file: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Tensors by name (float32, in file order) and the metadata."""
    with open(file, "rb") as f:
        raw = f.read()

    def bad(why: str) -> ValueError:
        return ValueError(f"{file} is not a valid safetensors file: {why}")

    if len(raw) < 8:
        raise bad("shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise bad(f"header length {n} exceeds the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"header is not UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    for name, e in header.items():
        if not (isinstance(e, dict) and isinstance(e.get("dtype"), str) and isinstance(e.get("shape"), list) and isinstance(e.get("data_offsets"), list) and len(e["data_offsets"]) == 2):
            raise bad(f"entry {name} needs dtype, shape and data_offsets [begin, end]")
    data = memoryview(raw)[8 + n :]
    out: Dict[str, torch.Tensor] = {}
    expect = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dtype, shape, (lo, hi) = e["dtype"], e["shape"], e["data_offsets"]
        if lo != expect:
            raise bad(f"tensor {name} starts at {lo}, expected {expect} (offsets must be contiguous)")
        if dtype == "BF16":
            u16 = np.frombuffer(data[lo:hi], dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dtype in _DTYPES:
            arr = np.frombuffer(data[lo:hi], dtype=_DTYPES[dtype]).astype(np.float32)
        else:
            raise bad(f"tensor {name} has unsupported dtype {dtype}")
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise bad(f"tensor {name}: shape {shape} needs {int(np.prod(shape))} values, its bytes hold {arr.size}")
        out[name] = torch.from_numpy(arr.reshape(shape).copy())
        expect = hi
    if expect != len(data):
        raise bad(f"data section has {len(data)} bytes but the tensors cover {expect}")
    return out, meta
