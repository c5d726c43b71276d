"""Prove that the dependencies resolve, as wheels, on the platforms students use.

    python .ci/platforms.py [--python 3.11 ...]

For each platform, the requirements of setup.cfg (install_requires and the
extras) are filtered by their environment markers as that platform would
evaluate them, then handed to `pip install --dry-run --only-binary=:all:
--platform ...`, which resolves the whole tree against PyPI without
installing anything. pip itself evaluates markers for the machine it runs
on, never for --platform, so the first filtering is done here; the markers
of transitive dependencies are still this machine's, which pip offers no
way around. Prints the TensorFlow build each platform gets and exits 1 when
any platform cannot install.
"""

import argparse
import configparser
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import mac_platforms

ROOT = Path(__file__).resolve().parent.parent


def manylinux(machine):
    # pip matches --platform tags literally, so list every glibc a wheel may name.
    return ["manylinux2014_" + machine] + [f"manylinux_2_{minor}_{machine}" for minor in range(17, 40)]


PLATFORMS = {
    # name: (marker environment, wheel platform tags, extras to resolve)
    "Linux x86_64": ({"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                      "os_name": "posix"}, manylinux("x86_64"), ("test", "gpu")),
    "macOS arm64": ({"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                     "os_name": "posix"}, list(mac_platforms((15, 0), "arm64")), ("test",)),
    "Windows x86_64": ({"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                        "os_name": "nt"}, ["win_amd64"], ("test",)),
    "Linux aarch64": ({"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                       "os_name": "posix"}, manylinux("aarch64"), ("test",)),
}


def requirements(extras):
    """(requirement text, extra or '') of setup.cfg's install_requires and `extras`."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = [(line, "") for line in config["options"]["install_requires"].splitlines()]
    for extra in extras:
        lines += [(line, extra) for line in config["options.extras_require"][extra].splitlines()]
    return [(line.strip(), extra) for line, extra in lines if line.strip() and not line.strip().startswith("#")]


def applicable(environment, python, extras):
    """The requirements `environment` would install, markers removed."""
    env = dict(environment, python_version=python, python_full_version=python + ".0",
               implementation_name="cpython", platform_python_implementation="CPython")
    picked = []
    for text, extra in requirements(extras):
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(dict(env, extra=extra)):
            requirement.marker = None
            picked.append(str(requirement))
    return picked


def resolve(requirements_, tags, python):
    """{package: version} pip would install, or raises with pip's error."""
    with tempfile.TemporaryDirectory() as target:
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                   "--target", target, "--report", "-"]
        for tag in tags:
            command += ["--platform", tag]
        done = subprocess.run(command + requirements_, capture_output=True, text=True)
    if done.returncode:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        raise RuntimeError("; ".join(errors) or done.stderr[-500:])
    report = json.loads(done.stdout)
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", nargs="+", default=["3.11"], help="Python versions to resolve for")
    args = parser.parse_args(argv)
    failed = 0
    print(f"{'platform':<16} {'python':<7} {'tensorflow':<24} {'litert':<8} {'mediapipe':<10} status")
    for name, (environment, tags, extras) in PLATFORMS.items():
        for python in args.python:
            try:
                found = resolve(applicable(environment, python, extras), tags, python)
            except RuntimeError as error:
                failed += 1
                print(f"{name:<16} {python:<7} {'-':<24} {'-':<8} {'-':<10} FAILS: {error}")
                continue
            tensorflow = next((f"{p} {v}" for p, v in sorted(found.items()) if p.startswith("tensorflow")
                               and not p.startswith("tensorflow-io")), "-")
            cuda = " +cuda" if any(p.startswith("nvidia-") for p in found) else ""
            print(f"{name:<16} {python:<7} {tensorflow + cuda:<24} {found.get('ai-edge-litert', '-'):<8} "
                  f"{found.get('mediapipe', '-'):<10} ok ({len(found)} packages; extras: {', '.join(extras)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
