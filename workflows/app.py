"""poets-app: serve a run's camera app, print its URL and open the browser.

    poets-app [MobileModel flags, e.g. --architecture mobilenet_0.75_224 --quantization-mode int8]
    poets-app PATH            # a camera app, a MobileModel folder, or an Export folder
    poets-app ... [--port N] [--host 0.0.0.0] [--no-browser] [--web-runtime DIR]
    poets-app ... --lan [--name NAME]   # HTTPS on this machine's network address, for a phone: a QR code
    poets-app ... --export DIR [--web-runtime DIR]   # a folder for any static HTTPS host, offline too

With the flags of a run (defaults and luigi.cfg otherwise), it serves the
camera app of the MobileModel those flags made; with a path, the app there,
or for an Export folder an app of that one model. The page loads MediaPipe's
runtime from its CDN; `--web-runtime DIR` (from `npm install
@mediapipe/tasks-vision@VERSION`) serves a local copy instead, for offline use.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from luigi.cmdline_parser import CmdlineParser

from poets.apps import lan, serving
from poets.apps.camera_app import PUBLISH, cached_runtime, export_app, local_runtime, serve, write_app
from poets.core.failures import UserFailure
from stores import default_cache_dir, read_record
from tasks.artifact import check_intact, read_json
from tasks.camera_app import CameraApp

PHONE = ("A phone's browser allows the camera only over HTTPS or on localhost: run poets-app --lan (HTTPS, and a "
         "QR code to scan), or plug the phone in by USB, run `adb reverse tcp:{port} tcp:{port}` and open "
         "http://localhost:{port}/ on it (Chrome's chrome://inspect/#devices does the same), or copy {app} (static "
         "files) to any HTTPS host. Over plain http://<this machine's address> the page labels photos but "
         "cannot open the camera.")


class NoApp(UserFailure, LookupError):
    """No camera app where the path or the flags point."""


def app_of_run(flags: list[str]) -> Path:
    """The camera app of the MobileModel these flags name, fetched from a bucket where it is in one."""
    with CmdlineParser.global_instance(["MobileModel", *flags]) as cmdline:
        task = cmdline.get_task_obj()
    if not task.complete():
        raise NoApp("these flags have no finished run yet; make it first with: luigi --module workflows "
                    "MobileModel --local-scheduler " + " ".join(flags))
    shipped = read_json(check_intact(task) / task.summary.name)["android"]["variant"]
    app = task.clone(CameraApp, shipped=shipped)
    if not app.complete():
        raise NoApp(f"the run of these flags has no camera app of this version of the page (it was made before "
                    f"the page changed, or before it had one); run it again to make it: "
                    f"luigi --module workflows MobileModel --local-scheduler {' '.join(flags)}")
    check_intact(app)
    return app.app


def app_at(path: Path) -> Path:
    """The camera app a path names: the app folder itself, a CameraApp or MobileModel folder,
    or an Export folder (an app of its one model is written into a temporary folder)."""
    path = Path(path).expanduser().resolve()
    if (path / "app.json").is_file():
        return path
    if (path / "app" / "app.json").is_file():
        return path / "app"
    if (path / "summary.json").is_file():
        return app_at(Path(read_json(path / "summary.json").get("camera_app", {}).get("path", path / "app")))
    if (path / "assets" / "graph.lite").is_file():
        variant = (read_record(path) or {}).get("params", {}).get("variant", "model")
        folder = Path(tempfile.mkdtemp(prefix="poets-app-")) / "app"
        model = path / "assets" / "graph.lite"
        write_app(folder, title=f"{path.name} ({variant})",
                  labels=(path / "assets" / "labels.txt").read_text(encoding="utf-8").splitlines(),
                  variants=[{"name": variant, "model": model, "size_bytes": model.stat().st_size}],
                  shipped=variant, sure_above=None)
        return folder
    raise NoApp(f"{path}: no camera app there (no app.json, app/, summary.json or assets/graph.lite)")


def serve_lan(app: Path, args, runtime):
    """Serve `app` over HTTPS for a phone on the network: (the server, its URL, the certificate's names)."""
    address = lan.lan_address() if args.host in serving.EVERY_ADDRESS else args.host
    names = [*args.name, address, "localhost", "127.0.0.1"]
    pem = lan.certificate(default_cache_dir() / "lan", names)
    server, url = serve(app, args.host, args.port, runtime, tls=lan.tls_context(pem),
                        names=tuple(args.name) or (address,))
    return server, url, list(dict.fromkeys(names))


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     usage="%(prog)s [PATH | MobileModel flags] [--port N] [--host HOST] "
                                           "[--lan [--name NAME]] [--no-browser] [--web-runtime DIR] [--export DIR]")
    parser.add_argument("--port", type=serving.port_number,
                        help=f"the port (default: a free one; with --lan, {lan.PORT})")
    parser.add_argument("--host", help="the address to listen on (default 127.0.0.1; with --lan, 0.0.0.0); "
                                       "0.0.0.0 for every one")
    parser.add_argument("--lan", action="store_true",
                        help="serve over HTTPS for a phone on this machine's network: a self-signed certificate "
                             "kept in the cache dir, the URL at this machine's network address and as a QR code")
    parser.add_argument("--name", action="append", default=[], metavar="NAME",
                        help="with --lan: a host name the phone reaches this machine by (e.g. mybox.local), "
                             "put in the certificate and shown in the URL; may be repeated")
    parser.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser")
    parser.add_argument("--export", metavar="DIR",
                        help="write the app, with the runtime and a service worker, into the new folder DIR, for any "
                             "static HTTPS host (it works offline once opened there), instead of serving it")
    parser.add_argument("--web-runtime", metavar="DIR",
                        help="serve this local copy of the MediaPipe runtime (npm install @mediapipe/tasks-vision) "
                             "instead of the CDN's")
    args, rest = parser.parse_known_args(argv)
    # The defaults, in one place: --lan listens on every address, at a fixed port.
    args.host = args.host or ("0.0.0.0" if args.lan else "127.0.0.1")
    args.port = (lan.PORT if args.lan else 0) if args.port is None else args.port
    return args, rest


def main(argv=None) -> int:
    args, rest = parse(sys.argv[1:] if argv is None else argv)
    if args.name and not args.lan:
        print("poets-app: --name goes with --lan (the names of the HTTPS certificate)", file=sys.stderr)
        return 2
    try:
        runtime = local_runtime(Path(args.web_runtime)) if args.web_runtime else None
        if rest and not rest[0].startswith("-"):
            if len(rest) > 1:
                raise NoApp(f"give a path or a run's flags, not both: {' '.join(rest[1:])}")
            app = app_at(Path(rest[0]))
        else:
            app = app_of_run(rest)
        if args.export:
            runtime = runtime or cached_runtime(default_cache_dir())
            folder = export_app(app, Path(args.export).expanduser().resolve(), runtime)
            print(f"The camera app of {app}, with its runtime, in {folder}\n{PUBLISH.format(folder=folder)}")
            return 0
        if args.lan:
            server, url, names = serve_lan(app, args, runtime)
        else:
            server, url = serve(app, args.host, args.port, runtime)
    # A bad flag of the run (BadInput), no app, a wrong runtime, a port in use: one line each.
    except (UserFailure, OSError) as error:
        print(f"poets-app: {error}", file=sys.stderr)
        return 2
    print(f"The camera app of {app}\nOpen {url}  (Ctrl-C stops it)", flush=True)
    if args.lan:
        lan.print_qr(url)
        print(lan.ACCEPT.format(names=", ".join(names)), flush=True)
    elif args.host not in ("127.0.0.1", "localhost", "::1"):
        print(PHONE.format(port=server.server_address[1], app=app), flush=True)
    return serving.serve_until_stopped(server, url, not args.no_browser)


if __name__ == "__main__":
    sys.exit(main())
