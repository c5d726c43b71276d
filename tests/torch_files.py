"""PyTorch .pth files written without torch, in its legacy format: for the state-dict reader's tests.

The pickle names torch's globals (`torch.FloatStorage`, `torch._utils._rebuild_tensor_v2`) as
torch.save writes them; stand-ins under those names are put in sys.modules only while pickling,
so pickle emits the same GLOBAL opcodes.
"""

import collections
import pickle
import struct
import sys
import types

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
KINDS = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


def _stand_ins():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in KINDS.values():
        kind = type(name, (), {"__module__": "torch"})
        setattr(torch, name, kind)

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: only pickled")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    return torch, utils


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage, shape, strides, rebuild):
        self.storage, self.shape, self.strides, self.rebuild = storage, shape, strides, rebuild

    def __reduce__(self):
        return self.rebuild, (self.storage, 0, self.shape, self.strides, False, collections.OrderedDict())


def write_pth(path, state: dict, extra=None, transposed=()):
    """Write `state` ({name: float32 or int64 array}) as torch.save(..., _use_new_zipfile_serialization=False)
    would. `extra` ({name: any picklable object}) is added to the dict as is (a malicious test's payload);
    names in `transposed` are stored column-major, as a transposed tensor's view is."""
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch, utils = _stand_ins()
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        storages, tensors = [], collections.OrderedDict()
        for name, value in state.items():
            value = np.asarray(value)
            layout = value.T if name in transposed else value
            storage = _Storage(str(len(storages)), np.ascontiguousarray(layout).ravel())
            storages.append(storage)
            layout_of = np.asfortranarray if name in transposed else np.ascontiguousarray
            strides = [s // value.itemsize for s in layout_of(value).strides] if value.ndim else []
            tensors[name] = _Tensor(storage, tuple(value.shape), tuple(strides), utils._rebuild_tensor_v2)
        tensors.update(extra or {})

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, _Storage):
                    kind = getattr(torch, KINDS[obj.array.dtype])
                    return ("storage", kind, obj.key, "cpu", obj.array.size, None)
                return None

        with open(path, "wb") as file:
            for header in (MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                         "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                pickle.dump(header, file, protocol=2)
            Pickler(file, protocol=2).dump(tensors)
            pickle.dump([storage.key for storage in storages], file, protocol=2)
            for storage in storages:
                file.write(struct.pack("<q", storage.array.size))
                file.write(storage.array.astype(storage.array.dtype.newbyteorder("<")).tobytes())
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return path
