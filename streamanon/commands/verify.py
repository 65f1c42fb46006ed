"""``streamanon verify FILE [--json]``: check the provenance marks of an anonymized video."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="check the provenance marks (SEI, tags, sidecar, C2PA) of an output file",
        description="Read back every per-frame provenance record of FILE and check it against the "
                    "decoded frames, the container tags, the sidecar manifest and any C2PA manifest. "
                    "Exit 0 when all are present and consistent, 7 otherwise.")
    parser.add_argument("file", help="video written by `streamanon run`")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..errors import ProvenanceError
    from ..provenance.verify import verify

    report = verify(args.file)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        state = "ok" if report.ok else "FAILED"
        print(f"{args.file}: provenance {state}: {report.frames} frames, {len(report.records)} records, "
              f"config {report.config_digest or '-'}, sidecar {'yes' if report.sidecar else 'no'}, "
              f"C2PA {'yes' if report.c2pa else 'no'}")
        for problem in report.problems:
            print(f"  - {problem}")
    if not report.ok:
        raise ProvenanceError(f"{args.file}: {len(report.problems)} provenance problem(s); "
                              f"first: {report.problems[0]}")
    return 0
