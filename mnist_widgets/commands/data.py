"""``mnist-widgets data info|fetch``: where the data sets are and whether they check out."""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("data", help="find, verify and fetch the data sets")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    info = actions.add_parser("info", help="where each data set was found, counts, checksums")
    info.add_argument("--dir", help="look in this folder instead of the usual places")
    info.add_argument("names", nargs="*", default=None, help="data sets (default: all)")
    info.set_defaults(func=run_info)
    fetch = actions.add_parser("fetch", help="download a data set into the cache if missing")
    fetch.add_argument("names", nargs="*", default=["mnist"], help="data sets (default: mnist)")
    fetch.add_argument("--dir", help="download into this folder instead of the cache")
    fetch.set_defaults(func=run_fetch)


def run_info(args) -> int:
    from ..data.loading import inspect
    from ..data.sources import DATASETS
    from ..errors import DataError

    status = 0
    for name in args.names or list(DATASETS):
        try:
            origin, folder, reports = inspect(name, args.dir)
        except DataError as exc:
            print(f"{name}: not available: {exc}")
            status = 1
            continue
        print(f"{name}: {folder} (from {origin})")
        for report in reports:
            verdict = f"checksum OK ({report.which})" if report.checksum_ok else "CHECKSUM MISMATCH"
            count = report.shape[0]
            print(f"  {report.path.name:<28} {count:>6} items  shape {report.shape}  {verdict}")
            status |= 0 if report.checksum_ok else 1
    return status


def run_fetch(args) -> int:
    from ..data.loading import resolve_dir

    for name in args.names:
        origin, folder = resolve_dir(name, args.dir, download=True)
        print(f"{name}: {folder} ({'downloaded' if origin == 'download' else 'found, ' + origin})")
    return 0
