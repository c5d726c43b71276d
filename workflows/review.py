"""poets-review: decide a run's photos to check in the browser; the decisions become its --label-fixes.

    poets-review [MobileModel flags, e.g. --dataset-dir ~/photos]
    poets-review ... [--out FILE] [--port N] [--host 0.0.0.0] [--no-browser]

With the flags of a run (defaults and luigi.cfg otherwise), it serves a page
of the photos that run's CheckPhotos flagged, one at a time, to keep, relabel
or exclude with the keyboard. The page saves the decisions into FILE (default:
the run's --label-fixes file, else label_fixes.csv here) and says the command
that runs again with them.
"""

import argparse
import sys
from pathlib import Path

from luigi.cmdline_parser import CmdlineParser

from poets.apps import review, serving
from poets.core.failures import BadInput, UserFailure
from tasks.check_photos import CheckPhotos


class NoCheck(UserFailure, LookupError):
    """No photo check made by the flags given."""


def check_of_run(flags: list[str]):
    """The CheckPhotos task of the MobileModel these flags name; it must be complete."""
    with CmdlineParser.global_instance(["MobileModel", *flags]) as cmdline:
        check = cmdline.get_task_obj().clone(CheckPhotos)
    if not check.complete():
        raise NoCheck("these flags have no photo check yet; make it first with: luigi --module workflows "
                      "MobileModel --local-scheduler " + " ".join(flags))
    return check


def without_fixes(flags: list[str]) -> list[str]:
    """The flags with any --label-fixes taken out (the command to run next gives the new file)."""
    kept, skip = [], False
    for flag in flags:
        if skip or flag.startswith("--label-fixes="):
            skip = False
            continue
        skip = flag == "--label-fixes"
        if not skip:
            kept.append(flag)
    return kept


def prepare(check, flags: list[str], out: Path) -> tuple[dict, Path, tuple]:
    """(review.json's content, the photos' folder, (paths, labels, classes) of every photo) for `check`."""
    findings = check.findings()
    # The run's labels (its fixes applied, its excluded photos out) for the nearest photos; the folders'
    # for what a decision changes and for checking the saved file as the next run will.
    features, kept, fixed, _ = check.labelled()
    paths, labels = check.folder_labels()
    shown = review.items(check.rows(), findings["duplicates"], features, kept, fixed, dict(zip(paths, labels)))
    photos = check.photos_folder(sorted({p for item in shown for p in [item["path"], *item["twins"],
                                                                       *item["nearest"]]}))
    classes = sorted(set(labels))
    command = " ".join(["luigi --module workflows MobileModel --local-scheduler", *without_fixes(flags),
                        "--label-fixes", str(out)])
    page = {"id": check.artifact_id, "classes": classes, "items": shown, "out": str(out), "command": command,
            "warnings": findings["warnings"], "run_fixes": check.label_fixes or None}
    return page, photos, (paths, labels, classes)


def check_out(out: Path):
    """Fail now, in one line, where saving would fail later: --out in a missing folder, or an
    existing --out that is not a fixes file (the page starts from its fixes)."""
    if not out.parent.is_dir():
        raise BadInput(f"--out {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise BadInput(f"--out {out}: it is a folder; give a file's path")
    review.saved_fixes(out)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     usage="%(prog)s [MobileModel flags] [--out FILE] [--port N] [--host HOST] "
                                           "[--no-browser]")
    parser.add_argument("--out", help="where the decisions are saved, as a --label-fixes CSV (default: the run's "
                                      "--label-fixes file, else label_fixes.csv in this folder)")
    parser.add_argument("--port", type=serving.port_number, default=0, help="the port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser")
    return parser.parse_known_args(argv)


def main(argv=None) -> int:
    args, flags = parse(sys.argv[1:] if argv is None else argv)
    try:
        check = check_of_run(flags)
        out = Path(args.out or check.label_fixes or "label_fixes.csv").expanduser().resolve()
        check_out(out)
        page, photos, dataset = prepare(check, flags, out)
        server, url = review.serve(page, photos, out, dataset, args.host, args.port)
    # A bad flag of the run (BadInput), no check, a port in use: one line each.
    except (UserFailure, OSError) as error:
        print(f"poets-review: {error}", file=sys.stderr)
        return 2
    print(f"{len(page['items'])} photos to check; decisions are saved into {out}\nOpen {url}  (Ctrl-C stops it)",
          flush=True)
    if not serving.loopback(args.host):
        print(f"poets-review: warning: with --host {args.host!r} anyone on this network can open the page, see "
              "the photos and the run's flags (saving needs the page's token)", file=sys.stderr, flush=True)
    return serving.serve_until_stopped(server, url, not args.no_browser)


if __name__ == "__main__":
    sys.exit(main())
