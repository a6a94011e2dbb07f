"""Convert the pretrained MSD_musicnn TensorFlow checkpoint to safetensors, without TensorFlow.

The checkpoint ships in the PyPI wheel ``musicnn==0.1.0`` (Jordi Pons, Xavier Serra; ISC licence) as
``musicnn/MSD_musicnn/.index`` and ``.data-00000-of-00001``. The ``.index`` file is a LevelDB-style
sorted string table whose values are ``BundleEntryProto`` messages (dtype, shape, offset, size of
each tensor in the data file); the data file is the raw little-endian tensors back to back. Both are
parsed here by hand, so converting needs numpy and safetensors only.

The tag names and provenance go in the safetensors metadata under the single key ``musicnn`` (JSON).

Usage::

    pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn_wheel
    python models/convert_musicnn.py /tmp/musicnn_wheel/musicnn-0.1.0-py3-none-any.whl \
        -o models/musicnn_msd.safetensors

``WHEEL_OR_DIR`` is the wheel, an unzipped wheel, or the ``MSD_musicnn`` checkpoint folder itself.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

#: The 50 Million Song Dataset tags, in the order of the model's outputs (musicnn configuration.py).
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
    "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
    "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two padded block handles (40 bytes) + 8-byte magic
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_, 19: np.float16}

# ---------------------------------------------------------------------------------------------
# SSTable + protobuf parsing
# ---------------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one protobuf/LevelDB base-128 varint at ``pos``; return (value, next position)."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _block_entries(table: bytes, offset: int, size: int, path: str) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of one SSTable block (keys are prefix-compressed against the previous)."""
    if table[offset + size] != 0:  # 1-byte compression type follows every block (then a crc32)
        raise ValueError(f"{path}: compressed SSTable blocks are not supported")
    block = table[offset:offset + size]
    (n_restarts,) = struct.unpack_from("<I", block, size - 4)
    end = size - 4 - 4 * n_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
    return entries


def _proto_fields(msg: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message: ints for varint/fixed, bytes for length-delimited."""
    fields, pos = [], 0
    while pos < len(msg):
        tag, pos = _varint(msg, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(msg, pos)
        elif wire == 1:
            (value,), pos = struct.unpack_from("<Q", msg, pos), pos + 8
        elif wire == 5:
            (value,), pos = struct.unpack_from("<I", msg, pos), pos + 4
        elif wire == 2:
            length, pos = _varint(msg, pos)
            value, pos = msg[pos:pos + length], pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def _bundle_entry(value: bytes) -> dict:
    """Decode a ``BundleEntryProto``: dtype(1), shape(2), shard_id(3), offset(4), size(5), crc32c(6), slices(7)."""
    entry = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "slices": False}
    for number, field in _proto_fields(value):
        if number == 1:
            entry["dtype"] = field
        elif number == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1; }
            dims = []
            for dim_number, dim in _proto_fields(field):
                if dim_number == 2:
                    dims.append(dict(_proto_fields(dim)).get(1, 0))
            entry["shape"] = tuple(dims)
        elif number in (3, 4, 5):
            entry[{3: "shard_id", 4: "offset", 5: "size"}[number]] = field
        elif number == 7:
            entry["slices"] = True
    return entry


def read_index(index: bytes, path: str = ".index") -> dict[str, dict]:
    """Parse a TF2/TF1 tensor-bundle ``.index`` file into {tensor name: bundle entry}.

    Parameters
    ----------
    index : bytes
        Contents of the ``.index`` file.
    path : str
        Name used in error messages.
    """
    if len(index) < _FOOTER_LEN or struct.unpack_from("<Q", index, len(index) - 8)[0] != _TABLE_MAGIC:
        raise ValueError(f"{path}: not a TensorFlow checkpoint index (bad SSTable magic)")
    footer = index[len(index) - _FOOTER_LEN:]
    _, pos = _varint(footer, 0)  # metaindex handle (unused), then the index block handle
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries = {}
    for _, handle in _block_entries(index, index_offset, index_size, path):
        block_offset, pos = _varint(handle, 0)
        block_size, _ = _varint(handle, pos)
        for key, value in _block_entries(index, block_offset, block_size, path):
            if key:  # the empty key holds the BundleHeaderProto
                entries[key.decode()] = _bundle_entry(value)
    return entries


def read_checkpoint(index: bytes, data: bytes, path: str = "checkpoint") -> dict[str, np.ndarray]:
    """All tensors of a single-shard checkpoint as numpy arrays, keyed by TF variable name."""
    tensors = {}
    for name, entry in read_index(index, path).items():
        if entry["slices"] or entry["shard_id"] != 0:
            raise ValueError(f"{path}: tensor {name!r} is sliced or sharded, which is not supported")
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype enum {entry['dtype']}")
        raw = data[entry["offset"]:entry["offset"] + entry["size"]]
        tensors[name] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).copy()
    return tensors


# ---------------------------------------------------------------------------------------------
# TF variable names -> torch state_dict
# ---------------------------------------------------------------------------------------------

# Creation order in musicnn models.build_musicnn: TF names layers conv2d, conv2d_1, ... and
# batch_normalization, batch_normalization_1, ... in the order the graph builds them.
_CONVS = ["frontend.timbral.0", "frontend.timbral.1", "frontend.temporal.0", "frontend.temporal.1",
          "frontend.temporal.2", "midend.conv.0", "midend.conv.1", "midend.conv.2"]
_BNS = ["frontend.bn_input", "frontend.timbral_bn.0", "frontend.timbral_bn.1", "frontend.temporal_bn.0",
        "frontend.temporal_bn.1", "frontend.temporal_bn.2", "midend.bn.0", "midend.bn.1", "midend.bn.2",
        "backend.bn_pool", "backend.bn_dense"]
_DENSES = ["backend.dense", "backend.out"]


def _tf_suffix(i: int) -> str:
    return "" if i == 0 else f"_{i}"


def to_state_dict(tf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map MSD_musicnn TF variables to the state_dict of ``livedj.encoders.musicnn.MusiCNN``.

    Conv kernels go from TF's [kh, kw, in, out] to torch's [out, in, kh, kw] (the 1-D mid-end
    convs, whose kernel spans the whole feature axis, become Conv1d [out, in, k]); dense kernels
    are transposed. Optimiser slots (``/Adam``) are dropped.
    """
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(_CONVS):
        kernel, bias = tf[f"conv2d{_tf_suffix(i)}/kernel"], tf[f"conv2d{_tf_suffix(i)}/bias"]
        if name.startswith("midend"):  # [7, C_in, 1, 64] -> [64, C_in, 7]
            weight = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:
            weight = kernel.transpose(3, 2, 0, 1)
        out[f"{name}.weight"], out[f"{name}.bias"] = weight, bias
    for i, name in enumerate(_BNS):
        prefix = f"batch_normalization{_tf_suffix(i)}"
        out[f"{name}.weight"] = tf[f"{prefix}/gamma"]
        out[f"{name}.bias"] = tf[f"{prefix}/beta"]
        out[f"{name}.running_mean"] = tf[f"{prefix}/moving_mean"]
        out[f"{name}.running_var"] = tf[f"{prefix}/moving_variance"]
        out[f"{name}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    for i, name in enumerate(_DENSES):
        out[f"{name}.weight"] = tf[f"dense{_tf_suffix(i)}/kernel"].T
        out[f"{name}.bias"] = tf[f"dense{_tf_suffix(i)}/bias"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def _find_checkpoint(source: Path) -> tuple[bytes, bytes, str]:
    """Return (.index bytes, .data bytes, description) from a wheel, an unzipped wheel or a checkpoint dir."""
    members = ("musicnn/MSD_musicnn/.index", "musicnn/MSD_musicnn/.data-00000-of-00001")
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(members[0]), wheel.read(members[1]), source.name
    for folder in (source, source / "MSD_musicnn", source / "musicnn" / "MSD_musicnn"):
        if (folder / ".index").is_file():
            return (folder / ".index").read_bytes(), (folder / ".data-00000-of-00001").read_bytes(), str(folder)
    raise FileNotFoundError(f"{source}: no musicnn wheel or MSD_musicnn/.index found")


def convert(source: Path, output: Path) -> dict[str, np.ndarray]:
    """Read the MSD_musicnn checkpoint from ``source`` and write ``output`` (safetensors with metadata)."""
    from safetensors.numpy import save_file

    index, data, origin = _find_checkpoint(source)
    state = to_state_dict(read_checkpoint(index, data, origin))
    info = {
        "source": "musicnn 0.1.0 (PyPI), MSD_musicnn checkpoint; (c) MTG, Universitat Pompeu Fabra; ISC licence",
        "source_data_sha256": hashlib.sha256(data).hexdigest(),
        "tag_names": list(MSD_LABELS),
        "input": "log10(1 + 10000 * mel power), 16 kHz, n_fft 512, hop 256, 96 Slaney mel bands, frames x 96",
    }
    # one metadata key: safetensors writes several keys in hash order, which would make the bytes vary
    metadata = {"musicnn": json.dumps(info, sort_keys=True)}
    output.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(output), metadata=metadata)
    output.chmod(0o644)  # safetensors creates the file owner-only
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="musicnn-0.1.0 wheel, unzipped wheel or MSD_musicnn folder")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).parent / "musicnn_msd.safetensors")
    args = parser.parse_args(argv)
    try:
        state = convert(args.source, args.output)
    except (OSError, KeyError, ValueError) as err:
        print(f"convert_musicnn: {err}", file=sys.stderr)
        return 1
    n_params = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    print(f"wrote {args.output}: {len(state)} tensors, {n_params} values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
