"""Frames written as an animated GIF (with Pillow) or an MP4 video (with imageio-ffmpeg).

:func:`animation_writer` picks the writer from the file's suffix and checks that its encoder is
installed, so that a wrong name fails before any episode is played. Frames are kept as 256-colour
palette images (:meth:`AnimationWriter.keep`), a third of the memory of RGB; the envs marlzoo draws
use far fewer colours. The file is written beside its target under a temporary name, then renamed
over it: a failure leaves whatever was there before.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from marlzoo.errors import UserError

INSTALL = "pip install 'marlzoo[render]'"


def _need(module: str, package: str, path: Path) -> Any:
    """The imported ``module``, or a UserError that says how to install ``package``, which has it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"writing {path.name} needs {package}, which is not installed: {INSTALL}") from None


class AnimationWriter(ABC):
    """Writes frames kept by :meth:`keep` to ``path`` at a given frame rate."""

    suffix: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path
        self._image = _need("PIL.Image", "Pillow", path)

    def keep(self, frame: np.ndarray) -> Any:
        """``frame`` (``(H, W, 3)`` uint8) as the palette image (a PIL image) this writer stores."""
        image = self._image
        return image.fromarray(frame).quantize(256, method=image.Quantize.FASTOCTREE, dither=image.Dither.NONE)

    def save(self, frames: Sequence[Any], fps: float) -> None:
        """Write ``frames`` (at least one) shown ``fps`` a second."""
        path = self.path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write(tmp, frames, fps)
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(f"could not write {path}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)

    @abstractmethod
    def _write(self, tmp: Path, frames: Sequence[Any], fps: float) -> None:
        """Encode ``frames`` into the file ``tmp``."""


class GifWriter(AnimationWriter):
    """An animated GIF that loops. GIF delays count hundredths of a second, so a frame lasts
    ``1 / fps`` rounded to 10 ms; Pillow merges a frame identical to the one before into it."""

    suffix = ".gif"

    def _write(self, tmp: Path, frames: Sequence[Any], fps: float) -> None:
        duration = 10 * max(1, round(100 / fps))
        frames[0].save(tmp, format="GIF", save_all=True, append_images=list(frames[1:]), duration=duration, loop=0)


class Mp4Writer(AnimationWriter):
    """An H.264 MP4, through the ffmpeg that imageio-ffmpeg ships. H.264 needs an even width and
    height: an odd one gets one more column (or row), a copy of the last."""

    suffix = ".mp4"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._ffmpeg = _need("imageio_ffmpeg", "imageio-ffmpeg", path)

    def _write(self, tmp: Path, frames: Sequence[Any], fps: float) -> None:
        width, height = frames[0].size
        pad = ((0, height % 2), (0, width % 2), (0, 0))
        encoder = self._ffmpeg.write_frames(str(tmp), (width + width % 2, height + height % 2), fps=fps,
                                            macro_block_size=1, ffmpeg_log_level="error")
        encoder.send(None)  # starts ffmpeg
        try:
            for frame in frames:
                encoder.send(np.pad(np.asarray(frame.convert("RGB")), pad, mode="edge"))
        finally:
            encoder.close()


WRITERS: dict[str, type[AnimationWriter]] = {w.suffix: w for w in (GifWriter, Mp4Writer)}


def animation_writer(path: str | Path) -> AnimationWriter:
    """The writer for ``path``, chosen by its suffix (``.gif`` or ``.mp4``), with its encoder loaded."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise UserError(f"--render writes .gif or .mp4 files, not '{path.name}'; name the file out.gif or out.mp4")
    if path.is_dir():
        raise UserError(f"--render {path} is a directory; give a file name such as {path / ('episodes' + writer.suffix)}")
    return writer(path)
