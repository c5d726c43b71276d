"""Which scheduler the `luigi` command uses, decided before luigi connects.

luigi.cfg names a `luigid` on this host, so that a run shows in the
visualiser. Typed without `--local-scheduler` and with no `luigid` running,
luigi would retry the connection for minutes and end in tracebacks. Instead:
the configured address unreachable, the run goes on with the local
scheduler, saying so in one line; an address given on the command line
that cannot be reached fails at once, in one line.
"""

import logging
import os
import socket
import sys

import luigi

log = logging.getLogger("luigi-interface")

ADDRESS_FLAGS = ("--scheduler-host", "--scheduler-port", "--scheduler-url",
                 "--core-scheduler-host", "--core-scheduler-port", "--core-scheduler-url")
START_LUIGID = ("mkdir -p luigid/log && .venv/bin/luigid --background --pidfile luigid/pid "
                "--logdir luigid/log --state-path luigid/state.pickle")
# luigi's exit code for a scheduling error, as luigi.cfg's [retcode] sets it.
SCHEDULING_ERROR = 35


def run_by_luigi_command(argv: list[str]) -> bool:
    """Whether this process is the `luigi` command (or `python -m luigi`)."""
    program = os.path.normpath(argv[0]) if argv else ""
    return os.path.basename(program) == "luigi" or program.endswith(os.path.join("luigi", "__main__.py"))


def _address_of_url(url: str) -> tuple[str, int, str]:
    import urllib.parse

    parsed = urllib.parse.urlparse(url)
    return parsed.hostname or "localhost", parsed.port or 8082, url


def scheduler_address() -> tuple[str, int, str]:
    """(host, port, url) of the central scheduler luigi's configuration names."""
    config = luigi.configuration.get_config()
    if url := config.get("core", "scheduler_url", ""):
        return _address_of_url(url)
    host, port = config.get("core", "scheduler_host", "localhost"), config.getint("core", "scheduler_port", 8082)
    return host, port, f"http://{host}:{port}/"


def reachable(host: str, port: int, timeout: float = 1.0) -> str | None:
    """None when something accepts connections at host:port, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as error:
        return f"the host name does not resolve ({error.strerror})"
    except OSError as error:
        return error.strerror or str(error)


def choose(argv: list[str]) -> None:
    """Fall back to the local scheduler, or fail in one line, as the module docstring says."""
    args = argv[1:]
    if "--local-scheduler" in args or any(a.startswith("--core-local-scheduler") for a in args):
        return
    explicit = [a.split("=")[0] for a in args if a.split("=")[0] in ADDRESS_FLAGS]
    if explicit:
        host, port, url = _address_from_flags(args)
    else:
        host, port, url = scheduler_address()
    why = reachable(host, port)
    if why is None:
        return
    if explicit:
        sys.stderr.write(f"luigi: cannot reach the scheduler at {url} ({' '.join(explicit)}): {why}\n")
        raise SystemExit(SCHEDULING_ERROR)
    luigi.configuration.get_config().set("core", "local_scheduler", "true")
    log.warning("No luigid at %s (%s): running with the local scheduler. To watch runs in the visualiser, "
                "start one with `%s` and run again.", url, why, START_LUIGID)


def _address_from_flags(args):
    """(host, port, url) from the command line's flags, the configuration for the rest."""
    host, port, _ = scheduler_address()
    values = {}
    for i, arg in enumerate(args):
        name, _, value = arg.partition("=")
        if name in ADDRESS_FLAGS:
            values[name.replace("--core-", "--")] = value or (args[i + 1] if i + 1 < len(args) else "")
    if "--scheduler-url" in values:
        return _address_of_url(values["--scheduler-url"])
    host = values.get("--scheduler-host", host)
    try:
        port = int(values.get("--scheduler-port", port))
    except ValueError:
        raise SystemExit(f"luigi: --scheduler-port: {values['--scheduler-port']!r} is not a port number") from None
    return host, port, f"http://{host}:{port}/"
