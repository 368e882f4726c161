"""``occgen faces``: masks for unlabelled faces and FFHQ-style alignment (thin layer over :mod:`occgen.prep.faces`)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from occgen.cli.common import command_group
from occgen.core.errors import ConfigError, OccgenError

if TYPE_CHECKING:
    from occgen.prep.faces.stage import FacesReport

faces_app = command_group(
    help="Prepare face folders: masks for faces without annotations, FFHQ-style alignment.", no_args_is_help=True
)


class MaskMethod(StrEnum):
    parser = "parser"
    landmarks = "landmarks"


SrcOption = Annotated[Path, typer.Option("--src", help="Folder of images, or a folder holding images/ (and masks/).")]
OutOption = Annotated[Path, typer.Option("--out", help="Output face folder (images/, masks/, failed.csv).")]
LandmarksOption = Annotated[
    Path | None,
    typer.Option(
        help="JSON/CSV of landmarks per file (68 points; align also takes 5) instead of detecting them "
        "[default: none, detect them]."
    ),
]
PredictorOption = Annotated[
    Path | None,
    typer.Option(help="dlib 68-point shape predictor .dat [default: the one face-recognition-models ships]."),
]


def _run(description: str, total: int, work: Callable[[Callable[[int], None]], FacesReport]) -> FacesReport:
    from occgen.cli.common import progress_bar

    progress = progress_bar()
    task = progress.add_task(description, total=total)
    with progress:
        return work(lambda count: progress.advance(task, count))


def _summary(report: FacesReport, what: str) -> None:
    from rich.markup import escape

    from occgen.cli.common import err_console

    parts = [f"{what} {report.written} of {report.total} face(s) into {report.out} in {report.seconds:.1f} s"]
    if report.notes.get("several_faces"):
        parts.append(f"{report.notes['several_faces']} image(s) had several faces (the largest was used)")
    parts.append(f"{len(report.failures)} failed (listed in {report.failed_path})")
    if report.failures:
        shown = ", ".join(f"{f.file} ({f.reason})" for f in report.failures[:5])
        parts.append(f"failed: {shown}{' ...' if len(report.failures) > 5 else ''}")
    err_console.print(escape("; ".join(parts)), highlight=False, soft_wrap=True)
    if report.written == 0:
        raise OccgenError(f"no face was written: every input failed; see {report.failed_path}")


@faces_app.command("masks")
def masks(
    src: SrcOption,
    out: OutOption,
    method: Annotated[MaskMethod, typer.Option(help="parser: BiSeNet face parsing; landmarks: 68-point polygon.")] = (
        MaskMethod.parser
    ),
    model: Annotated[
        Path | None,
        typer.Option(
            help="Face-parsing checkpoint (79999_iter.pth of face-parsing.PyTorch) "
            "[default: none; --method parser needs it]."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N (parser only).")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Images per parser batch.")] = 4,
    landmarks: LandmarksOption = None,
    predictor: PredictorOption = None,
    forehead_frac: Annotated[
        float, typer.Option(help="Landmarks: forehead height above the brows, as a fraction of the eye distance.")
    ] = 0.7,
    min_face_frac: Annotated[
        float, typer.Option(help="A face covering less than this fraction of the image counts as not found.")
    ] = 0.01,
) -> None:
    """Write masks/<stem>.png (0/255) for every face found; list the others in failed.csv."""
    from occgen.cli.common import user_errors
    from occgen.prep.faces import stage

    with user_errors():
        images = stage.source_images(src)
        if method is MaskMethod.parser:
            if model is None:
                raise ConfigError("--method parser needs --model FILE (the 79999_iter.pth face-parsing checkpoint)")
            from occgen.prep.faces.parsing import FaceParser

            parser = FaceParser.from_checkpoint(model, device=device)
            report = _run(
                f"parsing -> {out}",
                len(images),
                lambda advance: stage.masks_with_parser(
                    src, out, parser, batch_size=batch_size, min_face_frac=min_face_frac, on_progress=advance
                ),
            )
        else:
            from occgen.prep.faces.landmarks import DlibLandmarker

            points = stage.read_landmark_file(landmarks) if landmarks is not None else None
            landmarker = DlibLandmarker(predictor) if points is None else None
            report = _run(
                f"landmarks -> {out}",
                len(images),
                lambda advance: stage.masks_with_landmarks(
                    src,
                    out,
                    landmarks=points,
                    landmarker=landmarker,
                    forehead_frac=forehead_frac,
                    min_face_frac=min_face_frac,
                    on_progress=advance,
                ),  # fmt: skip
            )
        _summary(report, "masked")


@faces_app.command("align")
def align(
    src: SrcOption,
    out: OutOption,
    size: Annotated[int | None, typer.Option(help="Output side in px [default: 512; faceocc: 256].")] = None,
    landmarks: LandmarksOption = None,
    predictor: PredictorOption = None,
    template: Annotated[
        str, typer.Option(help="ffhq: FFHQ crop; faceocc: the FaceOcc authors' 256² frame (occlusions land in place).")
    ] = "ffhq",
) -> None:
    """Align images (and masks/<stem>.png, nearest neighbour) from landmarks: FFHQ crop or the FaceOcc frame."""
    from occgen.cli.common import user_errors
    from occgen.prep.faces import stage

    with user_errors():
        images = stage.source_images(src)
        points = stage.read_landmark_file(landmarks) if landmarks is not None else None
        landmarker = None
        if points is None:
            from occgen.prep.faces.landmarks import DlibLandmarker

            landmarker = DlibLandmarker(predictor)
        report = _run(
            f"align -> {out}",
            len(images),
            lambda advance: stage.align_folder(
                src,
                out,
                size or (256 if template == "faceocc" else 512),
                landmarks=points,
                landmarker=landmarker,
                on_progress=advance,
                template=template,
            ),
        )
        _summary(report, "aligned")
