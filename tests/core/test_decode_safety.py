"""Only the accepted formats' Pillow plugins ever see untrusted bytes, whatever the file is called."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import EpsImagePlugin, Image

import cli
from core.images import image_size, inspect_image, prepare_for_upload, thumbnail_rgb
from curation.files import hash_file
from core.fingerprints import hash_image

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"JPEG", "PNG", "WEBP", "GIF"}  # the JPEG plugin also opens MPO

# A minimal Encapsulated PostScript file as the EPSF-3.0 spec (Adobe TN 5002) lays it out: the header
# comment, a bounding box, then PostScript. Pillow's EpsImagePlugin accepts "%!PS" and, on load, runs
# Ghostscript on it: with a hostile file, that is running a PostScript interpreter on attacker input.
EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 16 16
%%Pages: 1
%%EndComments
newpath 0 0 moveto 16 16 lineto stroke
showpage
%%EOF
"""


def _foreign(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, fmt)
    return out.getvalue()


SAMPLES = {"EPS": EPS, "PS": EPS.replace(b" EPSF-3.0", b""), "TIFF": _foreign("TIFF"), "BMP": _foreign("BMP"),
           "PPM": _foreign("PPM"), "ICO": _foreign("ICO"), "TGA": _foreign("TGA")}
DECODERS = {
    "inspect_image": lambda data: inspect_image(data, max_pixels=10**8),
    "prepare_for_upload": lambda data: prepare_for_upload(data),
    "thumbnail_rgb": lambda data: thumbnail_rgb(data, 16),
    "image_size": image_size,
    "hash_image": hash_image,
}


@pytest.fixture
def foreign_plugins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every registered plugin outside the allow-list, and Ghostscript, replaced by a recorder that refuses."""
    Image.init()  # register every plugin, as Pillow does on its first fallback
    ran: list[str] = []

    def recorder(fmt: str, what: str):
        def refuse(*args: object, **kwargs: object) -> object:
            ran.append(f"{fmt} {what}")
            raise SyntaxError(f"{fmt} plugin must not run")
        return refuse

    for fmt, (_factory, _accept) in list(Image.OPEN.items()):
        if fmt not in ALLOWED:
            monkeypatch.setitem(Image.OPEN, fmt, (recorder(fmt, "open"), recorder(fmt, "accept")))
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", recorder("EPS", "Ghostscript"))
    return ran


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_no_decoder_lets_a_plugin_outside_the_allow_list_run(foreign_plugins, decoder: str, sample: str) -> None:
    from core.images import RefusedImage

    with pytest.raises(RefusedImage):
        DECODERS[decoder](SAMPLES[sample])
    assert foreign_plugins == []


def test_dedup_refuses_a_postscript_file_named_like_a_photo(tmp_path: Path, foreign_plugins, capsys,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "holiday.jpg").write_bytes(EPS)
    capsys.readouterr()
    code = cli.main(["dedup", str(tmp_path / "holiday.jpg"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["errors"] == [{"path": str(tmp_path / "holiday.jpg"), "reason": "not an image (the data looks like text)"}]
    assert foreign_plugins == []


def test_dedup_does_not_read_a_fifo(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "stuck.jpg")
    assert hash_file(tmp_path / "stuck.jpg") == "not a regular file"


def test_image_open_is_called_in_one_place_only() -> None:
    """Every decode goes through core.images.open_image, which passes the allow-list to Pillow."""
    callers = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "bench") or rel == Path("core/images.py"):
            continue  # tests and benches open images they made themselves
        if re.search(r"\bImage\.open\(|\bfrom PIL\.Image import .*\bopen\b", path.read_text(encoding="utf-8")):
            callers.append(str(rel))
    assert callers == []
