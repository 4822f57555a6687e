"""``roadmark audit``: where a model confidently disagrees with the existing labels."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_TOP = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="rank frames and regions where a model confidently disagrees with the labels",
        description="Predict the labeled frames with MODEL (stored with the project's other "
        "predictions, so the GUI's audit queue shows them), then list likely label errors "
        "(the model is confident and says another label) and hard cases (the model is "
        "unsure of a labeled area).",
    )
    parser.add_argument("project", help="the .roadmark file")
    parser.add_argument("--model", required=True, metavar="MODEL", help="segmentation model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch", type=int, default=4, metavar="N", help="frames per batch")
    parser.add_argument(
        "--top", type=int, default=DEFAULT_TOP, metavar="N", help="findings printed (text)"
    )
    parser.add_argument(
        "--confident",
        type=float,
        default=0.7,
        metavar="P",
        help="model confidence from which a different label is a likely error (0.7)",
    )
    parser.add_argument("--json", action="store_true", help="print every finding as JSON")
    parser.set_defaults(handler=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roadmark.analysis.label_audit import AuditParams
    from roadmark.io.store import Project
    from roadmark.models.audit import run_audit
    from roadmark.models.runner import PrelabelOptions

    params = AuditParams(confident=args.confident, unsure=min(0.4, args.confident))
    with Project.open(args.project) as project:
        with tqdm(unit="frame", leave=False, disable=None, file=sys.stderr) as bar:

            def progress(done: int, total: int, message: str = "") -> None:
                if bar.total != total:
                    bar.reset(total=total)
                bar.update(done - bar.n)

            report = run_audit(
                project,
                args.model,
                options=PrelabelOptions(device=args.device, batch_size=args.batch),
                params=params,
                progress=progress,
            )
        schema = project.schema
        names = {frame.id: frame.name for frame in project.frames()}
        if args.json:
            data = report.to_json(schema)
            for item in (*data["frames"], *data["findings"]):  # type: ignore[misc]
                item["frame"] = names.get(item["frame_id"], str(item["frame_id"]))
            print(json.dumps(data, indent=1))
            return 0
        errors, hard = report.disagreements(), report.hard_cases()
        print(
            f"{len(report.frames)} labeled frames compared with {report.model}: "
            f"{len(errors)} likely label errors, {len(hard)} hard cases"
        )
        for finding in report.findings[: args.top]:
            data = finding.to_json(schema)
            print(
                f"{finding.kind:12s} {names.get(finding.frame_id, finding.frame_id)}  "
                f"bbox {data['bbox']}  labeled {data['labeled_class']}  "
                f"predicted {data['predicted_class']}  confidence {finding.confidence:.2f}  "
                f"area {finding.area:.0f}"
            )
    return 0
