"""What made an artifact: the versions and the machine that its record (params.json) names, since the
same parameters give the same bytes only with the same versions on the same kind of CPU."""

import functools
from pathlib import Path

# The packages whose versions can change an artifact's bytes (the TensorFlow wheel is one of the three names).
PACKAGES = ("tensorflow", "tensorflow-cpu", "tf-nightly", "keras", "ai-edge-litert", "numpy", "scipy", "pillow",
            "mediapipe", "luigi")
# The CPU's vector instructions: what TensorFlow's and numpy's kernels choose between at run time.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                "neon", "asimd", "sve")


@functools.cache
def made_with() -> dict:
    """Which versions and which machine make this process's artifacts: the same
    parameters give the same bytes only with the same versions on the same
    kind of CPU (docs/reference.md, "What is in `data/`")."""
    import platform
    from importlib import metadata

    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        info = ""
    for line in info.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "Model") and value.strip():
            cpu = value.strip()
        if name.strip() in ("flags", "Features") and not flags:
            flags = [flag for flag in VECTOR_FLAGS if flag in value.split()]
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpu_vector_flags": flags, "packages": packages}
