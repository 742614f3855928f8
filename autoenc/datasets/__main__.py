"""``python -m autoenc.datasets list|info NAME [--data-dir DIR]``: what is found where."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from dataclasses import asdict

from .online import source_status
from .registry import DATASETS, info


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _print_list(data_dir: str | None) -> int:
    for name in DATASETS:
        d = info(name, data_dir=data_dir)
        status = "found" if d.found else "NOT FOUND"
        shape = "x".join(map(str, d.shape))
        print(f"{name:<14} {status:<9} train {_count(d.n_train):>7}  test {_count(d.n_test):>7}"
              f"  {shape:<6} {d.source or '-'}")
        if d.location:
            print(f"{'':<15}at {d.location}")
        if d.notes:
            print(textwrap.fill(d.notes, 100, initial_indent=" " * 15, subsequent_indent=" " * 15))
    print("\nonline sources (tried by load(..., source='auto') after local files):")
    for src, state in source_status():
        print(textwrap.fill(f"{src:<7} {state}", 100, initial_indent="  ", subsequent_indent=" " * 10,
                            break_on_hyphens=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autoenc.datasets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="every data set: found or not, where, counts, notes; the online sources")
    p_info = sub.add_parser("info", help="one data set as JSON (with checksums)")
    p_info.add_argument("name", choices=DATASETS)
    for p in (p_list, p_info):
        p.add_argument("--data-dir", default=None, help="folder searched first")
    args = parser.parse_args(argv)
    if args.command == "list":
        return _print_list(args.data_dir)
    print(json.dumps(asdict(info(args.name, data_dir=args.data_dir)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
