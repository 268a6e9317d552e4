"""The files of a Hugging Face checkpoint directory: `config.json` and safetensors shards, read and written.

Reading never executes code: `config.json` is parsed as JSON, tensors are
safetensors (NumPy arrays, no PyTorch), and PyTorch pickles (`*.bin`) are
refused. A checkpoint is one `model.safetensors` or shards listed by
`model.safetensors.index.json`. `CheckpointFiles` reads only the headers: each
shard is opened with the `safetensors` library, which checks the whole file
(a truncated or corrupt shard is an error there), and the JSON header gives
each tensor's dtype, shape and byte range. `read` then reads one tensor's
bytes straight into a new NumPy array: neither a memory-mapped shard nor an
intermediate copy stays in memory, so loading needs the model's weights plus
about one tensor (`tools/checkpoint_memory.py` measures it).
"""

import json
import math
import mmap
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import ml_dtypes
import numpy as np

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
OTHER_FORMATS = ("tf_model.h5", "flax_model.msgpack", "model.ckpt.index")
DEFAULT_MAX_SHARD_SIZE = 5 * 10**9

# safetensors dtype -> NumPy dtype (the format is little-endian)
NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": ml_dtypes.bfloat16, "I64": "<i8", "I32": "<i4",
                "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be read: names the file or tensor at fault."""


@dataclass(frozen=True)
class TensorInfo:
    """Where a tensor is and what it holds (from the shard header; nothing read)."""

    name: str
    file: str
    dtype: str
    shape: Tuple[int, ...]
    offset: int  # of its first byte in the file
    nbytes: int


def read_config(directory) -> Dict:
    """`config.json` of a checkpoint directory, as a dict (a clear error when missing or not JSON)."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise FileNotFoundError(f"No checkpoint directory at {str(directory)!r}.")
    if not path.is_file():
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in {str(directory)!r}: a Hugging Face checkpoint directory holds config.json and "
            f"model.safetensors (or shards with {INDEX_FILE}); a dlzoo preset directory holds config.json and "
            "model.weights.h5."
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not valid JSON: {exc}.") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{str(path)!r} must hold a JSON object. Received: {type(config).__name__}.")
    return config


def _safe_open(path: str):
    from safetensors import safe_open  # lazy: optional dependency (dlzoo[checkpoints])

    try:
        return safe_open(path, framework="numpy")
    except Exception as exc:  # safetensors raises SafetensorError for a truncated or corrupt file
        raise CheckpointError(
            f"Cannot read the safetensors file {path!r} (truncated or corrupt?): {exc}. Received: "
            f"{os.path.getsize(path) if os.path.exists(path) else 'no'} bytes."
        ) from None


class CheckpointFiles:
    """The safetensors shards of a checkpoint directory and the tensors they hold (headers only).

    Args:
        directory: path. A Hugging Face checkpoint directory.

    Raises:
        FileNotFoundError: no weights, or a shard named by the index is missing.
        CheckpointError: PyTorch pickles only, a truncated shard, or an index
            that disagrees with its shards.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.files = self._shard_files()
        self.tensors: Dict[str, TensorInfo] = {}
        for file in self.files:
            with _safe_open(file) as handle:  # the library checks the header and that the data covers the file
                names = list(handle.keys())
            for info in _header(file).values():
                if info.name in self.tensors:
                    raise CheckpointError(
                        f"Tensor {info.name!r} is stored twice: in {self.tensors[info.name].file!r} and {file!r}."
                    )
                self.tensors[info.name] = info
            if sorted(names) != sorted(n for n, i in self.tensors.items() if i.file == file):
                raise CheckpointError(f"The header of {file!r} does not list the tensors safetensors reads.")
        self._check_index()

    def _shard_files(self) -> List[str]:
        index = self.directory / INDEX_FILE
        if index.is_file():
            self.weight_map = _read_index(index)
            files = []
            for name in dict.fromkeys(self.weight_map.values()):
                path = self.directory / name
                if not path.is_file():
                    raise FileNotFoundError(
                        f"Shard {name!r} listed in {str(index)!r} is missing from {str(self.directory)!r} "
                        f"(it should hold {sum(1 for v in self.weight_map.values() if v == name)} tensors)."
                    )
                files.append(str(path))
            return files
        self.weight_map = None
        single = self.directory / SINGLE_FILE
        if single.is_file():
            return [str(single)]
        present = [name for name in PICKLE_FILES if (self.directory / name).is_file()]
        if present:
            raise CheckpointError(
                f"{str(self.directory / present[0])!r} is a PyTorch pickle: dlzoo does not unpickle (loading a "
                "pickle can run arbitrary code). Convert the checkpoint to safetensors first, e.g. with "
                "transformers: AutoModel.from_pretrained(src).save_pretrained(dst) writes model.safetensors."
            )
        other = [name for name in OTHER_FORMATS if (self.directory / name).is_file()]
        raise FileNotFoundError(
            f"No {SINGLE_FILE} or {INDEX_FILE} in {str(self.directory)!r}"
            + (f" (found {other[0]}: only safetensors weights are read)" if other else "")
            + "."
        )

    def _check_index(self) -> None:
        if self.weight_map is None:
            return
        for name, file in self.weight_map.items():
            info = self.tensors.get(name)
            if info is None or Path(info.file).name != file:
                raise CheckpointError(
                    f"{INDEX_FILE} places tensor {name!r} in {file!r}, but "
                    + ("no shard holds it." if info is None else f"it is in {Path(info.file).name!r}.")
                )

    @property
    def size_on_disk(self) -> int:
        return sum(os.path.getsize(f) for f in self.files)

    def read(self, name: str) -> np.ndarray:
        """One tensor as a NumPy array in its own dtype (bfloat16 as `ml_dtypes.bfloat16`)."""
        info = self.tensors[name]
        if info.dtype not in NUMPY_DTYPES:
            raise CheckpointError(f"Tensor {name!r} in {info.file!r} has the dtype {info.dtype}, which dlzoo does not read.")
        # An anonymous mapping, not the malloc heap: unmapped as soon as the array goes, it leaves no
        # fragments behind (tensor-sized heap blocks would keep the process's resident memory growing).
        buffer = mmap.mmap(-1, max(info.nbytes, 1))
        array = np.frombuffer(buffer, NUMPY_DTYPES[info.dtype], count=math.prod(info.shape)).reshape(info.shape)
        with open(info.file, "rb") as f:
            f.seek(info.offset)
            count = f.readinto(memoryview(buffer)[: info.nbytes])
        if count != info.nbytes:
            raise CheckpointError(f"{info.file!r} ends inside tensor {name!r} (truncated after it was opened?).")
        return array


def _header(file: str) -> Dict[str, TensorInfo]:
    """The tensors a safetensors file holds: 8-byte little-endian header size, JSON header, then the data."""
    with open(file, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    found = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        found[name] = TensorInfo(name, file, entry["dtype"], tuple(entry["shape"]), 8 + size + start, end - start)
    return found


def _read_index(path: Path) -> Dict[str, str]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not valid JSON: {exc}.") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{str(path)!r} needs a `weight_map` of tensor name -> shard file.")
    for file in weight_map.values():
        if os.path.basename(file) != file:
            raise CheckpointError(f"{str(path)!r} names a shard outside its directory: {file!r}.")
    return weight_map


# ------------------------------------------------------------------ writing
def parse_size(size) -> int:
    """`"5GB"`, `"200MB"`, `"1KiB"` or an int -> bytes."""
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*", str(size), flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"`max_shard_size` must be a positive int or a size like '5GB'. Received: max_shard_size={size!r}.")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " KMGT".index(unit.upper() or " "))


def write_shards(directory, tensors: Iterable[Tuple[str, np.ndarray]], max_shard_size=DEFAULT_MAX_SHARD_SIZE) -> List[str]:
    """Write `(name, array)` pairs as safetensors shards of at most `max_shard_size` bytes.

    One shard is held in memory at a time. One shard is `model.safetensors`;
    several are `model-0000i-of-0000n.safetensors` with
    `model.safetensors.index.json`, as `transformers` writes them.

    Returns:
        The file names written.
    """
    from safetensors.numpy import save_file  # lazy: optional dependency (dlzoo[checkpoints])

    limit = parse_size(max_shard_size)
    directory = Path(directory)
    written: List[Tuple[str, List[str], int]] = []
    shard: Dict[str, np.ndarray] = {}
    shard_bytes = total = 0

    def flush():
        nonlocal shard, shard_bytes
        name = f"shard-{len(written):05d}.tmp"
        save_file(shard, str(directory / name), metadata={"format": "pt"})
        written.append((name, list(shard), shard_bytes))
        shard, shard_bytes = {}, 0

    for name, array in tensors:
        array = np.ascontiguousarray(array)
        if shard and shard_bytes + array.nbytes > limit:
            flush()
        shard[name] = array
        shard_bytes += array.nbytes
        total += array.nbytes
    if shard or not written:
        flush()
    if len(written) == 1:
        os.replace(directory / written[0][0], directory / SINGLE_FILE)
        return [SINGLE_FILE]
    weight_map, names = {}, []
    for i, (temporary, tensor_names, _) in enumerate(written):
        final = f"model-{i + 1:05d}-of-{len(written):05d}.safetensors"
        os.replace(directory / temporary, directory / final)
        weight_map.update({t: final for t in tensor_names})
        names.append(final)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (directory / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return names + [INDEX_FILE]


def is_checkpoint_config(config: Optional[Dict]) -> bool:
    """Whether a parsed `config.json` is a Hugging Face one (`model_type`, no dlzoo `model`)."""
    return isinstance(config, dict) and "model_type" in config and "model" not in config


__all__ = ["CheckpointError", "CheckpointFiles", "TensorInfo", "is_checkpoint_config", "read_config", "write_shards"]
