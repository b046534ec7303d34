"""Image inspection and preparation: real bytes in, real bytes out, decoded again to check."""

from __future__ import annotations

import io
import struct
import threading
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFile, PngImagePlugin

from core.images import ImageInfo, RefusedImage, inspect_image, prepare_for_upload, thumbnail_rgb
from tests.fakes import images

LIMIT = 60_000_000
RED, BLUE = (220, 20, 20), (20, 20, 220)


def _photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    return images.photo(seed, size)


def _noise(seed: int, size: tuple[int, int]) -> Image.Image:
    """Incompressible pixels, to push encoders over a byte limit."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _bytes(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but carries (almost) no pixel data: decoding it would fail or explode."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _split(img: Image.Image) -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    width, height = img.size
    ImageDraw.Draw(img).rectangle([0, 0, width // 2, height], fill=RED)
    ImageDraw.Draw(img).rectangle([width // 2, 0, width, height], fill=BLUE)
    return img


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


# --- inspect_image ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                           ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_inspect_identifies_the_format_from_the_bytes(fmt: str, mime: str) -> None:
    info = inspect_image(_bytes(_photo(1, (123, 45)), fmt), max_pixels=LIMIT)
    assert info == ImageInfo(format=fmt, mime=mime, width=123, height=45)


def test_inspect_reports_a_multi_picture_camera_jpeg_as_jpeg() -> None:
    data = _bytes(_photo(1), "MPO", save_all=True, append_images=[_photo(2)])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert inspect_image(data, max_pixels=LIMIT).mime == "image/jpeg"


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "not an image (the data is empty)"),
    (b"\n  <!DOCTYPE html><html><body>Rate limited</body></html>", "not an image (the data looks like HTML)"),
    (b'{"error": "Record not found"}', "not an image (the data looks like JSON)"),
    (b"Service Unavailable, try again later", "not an image (the data looks like text)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "unsupported image format 'SVG'"),
    (b"\x00\x00\x00\x18ftypheic" + bytes(64), "unsupported image format 'HEIF'"),
])
def test_inspect_names_what_a_non_image_looks_like(data: bytes, expected: str) -> None:
    with pytest.raises(RefusedImage) as refused:
        inspect_image(data, max_pixels=LIMIT)
    assert refused.value.reason == expected
    assert str(refused.value) == expected


@pytest.mark.parametrize("fmt", ["TIFF", "BMP"])
def test_inspect_refuses_formats_we_do_not_publish(fmt: str) -> None:
    with pytest.raises(RefusedImage, match=f"unsupported image format '{fmt}'"):
        inspect_image(_bytes(_photo(1), fmt), max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF"])
def test_inspect_decodes_fully_so_truncated_files_are_refused(fmt: str) -> None:
    data = _bytes(_photo(3, (400, 300)), fmt)
    assert inspect_image(data, max_pixels=LIMIT).width == 400
    with pytest.raises(RefusedImage) as refused:
        inspect_image(data[: len(data) // 2], max_pixels=LIMIT)
    assert refused.value.reason.startswith("truncated or corrupt image (")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_inspect_refuses_a_broken_header_as_corrupt_not_as_unknown() -> None:
    with pytest.raises(RefusedImage, match=r"truncated or corrupt image \(cannot read the PNG header\)"):
        inspect_image(_bytes(_photo(1), "PNG")[:10], max_pixels=LIMIT)


def test_inspect_refuses_too_many_bytes_before_looking_at_them() -> None:
    data = b"<html>" + bytes(30_100_000)
    with pytest.raises(RefusedImage) as refused:
        inspect_image(data, max_pixels=LIMIT, max_bytes=25_000_000)
    assert refused.value.reason == "image is 30.1 MB, over the 25.0 MB limit"


@pytest.mark.parametrize(("width", "height"), [(9000, 9000), (10000, 10000), (30000, 30000)])
def test_inspect_refuses_pixel_bombs_from_the_header_alone(width: int, height: int) -> None:
    # Sizes below, between and above Pillow's own warning and error thresholds; none may be decoded
    # (the pixel data is missing, so decoding would give a 'truncated' reason instead).
    before = (Image.MAX_IMAGE_PIXELS, list(warnings.filters))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(RefusedImage) as refused:
        warnings.simplefilter("always")
        inspect_image(_png_header_only(width, height), max_pixels=LIMIT)
    assert refused.value.reason == (
        f"image is {width}x{height} = {width * height:,} pixels, over the 60,000,000 pixel limit")
    assert caught == []
    assert (Image.MAX_IMAGE_PIXELS, list(warnings.filters)) == before


def test_inspect_still_refuses_what_pillow_will_not_decode_when_our_limit_is_higher() -> None:
    with pytest.raises(RefusedImage, match=r"30000x30000 = 900,000,000 pixels, over Pillow's decompression-bomb"):
        inspect_image(_png_header_only(30000, 30000), max_pixels=10**10)


def test_inspect_refuses_at_the_configured_limit() -> None:
    data = _bytes(_photo(1, (100, 50)), "PNG")
    assert inspect_image(data, max_pixels=5000).height == 50
    with pytest.raises(RefusedImage, match="image is 100x50 = 5,000 pixels, over the 4,999 pixel limit"):
        inspect_image(data, max_pixels=4999)


def test_inspect_from_many_threads_leaves_the_warning_filters_alone() -> None:
    before = list(warnings.filters)
    bomb, good = _png_header_only(10000, 10000), _bytes(_photo(1), "JPEG")
    outcomes: list[str] = []

    def work() -> None:
        for _ in range(20):
            for data in (bomb, good):
                try:
                    outcomes.append(inspect_image(data, max_pixels=LIMIT).format)
                except RefusedImage as exc:
                    outcomes.append(exc.reason[:8])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["JPEG", "image is"] and len(outcomes) == 8 * 20 * 2
    assert list(warnings.filters) == before


# --- prepare_for_upload ----------------------------------------------------------------------------

def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _camera_jpeg() -> bytes:
    """A sideways phone photo: pixels stored turned, Orientation=6, GPS, comment, XMP, an ICC profile."""
    img = _split(Image.new("RGB", (200, 100)))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x013B] = "Secret Photographer"
    exif.get_ifd(0x8825)[2] = (50.0, 50.0, 42.0)  # GPSLatitude
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>secret-xmp-home</rdf:RDF></x:xmpmeta>'
    return _bytes(img, "JPEG", exif=exif, comment=b"secret-comment", xmp=xmp, icc_profile=_srgb_icc(), quality=95)


def test_prepare_turns_the_photo_upright_and_strips_every_trace_of_metadata() -> None:
    source = _camera_jpeg()
    assert b"secret-comment" in source and b"Secret Photographer" in source and b"secret-xmp" in source
    data, mime = prepare_for_upload(source)
    assert mime == "image/jpeg"
    for secret in (b"secret-comment", b"Secret Photographer", b"secret-xmp", b"Exif\x00\x00"):
        assert secret not in data
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and out.size == (100, 200)
    assert _close(out.getpixel((50, 10)), RED) and _close(out.getpixel((50, 190)), BLUE)
    assert dict(out.getexif()) == {}
    assert not {"comment", "xmp", "exif"} & set(out.info)
    assert out.info["icc_profile"] == _srgb_icc()


def test_prepare_keeps_png_lossless_and_drops_its_text_chunks() -> None:
    img = _photo(4, (160, 120)).convert("RGBA")
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-author")
    info.add_text("Comment", "secret-ztxt", zip=True)
    info.add_itxt("Description", "secret-itxt")
    data, mime = prepare_for_upload(_bytes(img, "PNG", pnginfo=info))
    assert mime == "image/png"
    assert b"secret" not in data
    out = Image.open(io.BytesIO(data))
    assert out.format == "PNG" and out.mode == "RGBA"
    assert not {"Author", "Comment", "Description"} & set(out.info)
    assert np.array_equal(np.asarray(out), np.asarray(img))


def test_prepare_flattens_transparent_webp_onto_white_jpeg() -> None:
    img = Image.new("RGBA", (80, 60), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle([40, 0, 80, 60], fill=BLUE + (255,))
    data, mime = prepare_for_upload(_bytes(img, "WEBP", lossless=True))
    out = Image.open(io.BytesIO(data))
    assert (mime, out.format, out.mode) == ("image/jpeg", "JPEG", "RGB")
    assert _close(out.getpixel((10, 30)), (255, 255, 255), 8) and _close(out.getpixel((70, 30)), BLUE)


def test_prepare_turns_a_gif_into_jpeg() -> None:
    data, mime = prepare_for_upload(_bytes(_photo(5).convert("P"), "GIF"))
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).size == (320, 240)


def test_prepare_drops_a_colour_profile_the_new_pixels_no_longer_match() -> None:
    fake_cmyk_icc = bytes(16) + b"CMYK" + bytes(108)
    source = _bytes(_photo(6).convert("CMYK"), "JPEG", icc_profile=fake_cmyk_icc)
    out = Image.open(io.BytesIO(prepare_for_upload(source)[0]))
    assert out.mode == "RGB" and "icc_profile" not in out.info


def test_prepare_lowers_quality_before_it_lowers_the_size() -> None:
    source = _bytes(_photo(7, (600, 400)), "JPEG", quality=98)
    full = len(prepare_for_upload(source)[0])
    data, mime = prepare_for_upload(source, max_bytes=full - 1)
    assert mime == "image/jpeg" and len(data) < full
    assert Image.open(io.BytesIO(data)).size == (600, 400)


def test_prepare_downscales_in_steps_when_quality_is_not_enough() -> None:
    source = _bytes(_noise(1, (400, 300)), "PNG")
    at_q50 = len(_bytes(_noise(1, (400, 300)), "JPEG", quality=50))
    data, mime = prepare_for_upload(source, max_bytes=at_q50 // 2)
    assert mime == "image/jpeg" and len(data) <= at_q50 // 2
    width, height = Image.open(io.BytesIO(data)).size
    assert width < 400 and abs(width / height - 4 / 3) < 0.02
    # Each step is 0.85: the result is one of 400*0.85^k, not an arbitrary size.
    steps = [int(400 * 0.85**k) for k in range(1, 12)]
    assert any(abs(width - s) <= 2 for s in steps)


def test_prepare_refuses_when_nothing_fits() -> None:
    with pytest.raises(RefusedImage, match="cannot make the image fit in 0.0 MB"):
        prepare_for_upload(_bytes(_photo(8), "JPEG"), max_bytes=300)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_prepare_downscales_to_the_pixel_limit_first(fmt: str) -> None:
    data, _ = prepare_for_upload(_bytes(_photo(9, (1200, 800)), fmt), max_pixels=60_000)
    width, height = Image.open(io.BytesIO(data)).size
    assert width * height <= 60_000 and width * height > 55_000
    assert abs(width / height - 1.5) < 0.02


def test_prepare_refuses_non_images() -> None:
    with pytest.raises(RefusedImage, match="looks like HTML"):
        prepare_for_upload(b"<html><body>gone</body></html>")


# --- thumbnail_rgb ---------------------------------------------------------------------------------

def test_thumbnail_is_small_upright_rgb() -> None:
    thumb = thumbnail_rgb(_camera_jpeg(), 40)
    assert thumb.mode == "RGB" and thumb.size == (20, 40)
    assert _close(thumb.getpixel((10, 2)), RED) and _close(thumb.getpixel((10, 37)), BLUE)


def test_thumbnail_of_a_large_jpeg_and_a_transparent_png() -> None:
    assert thumbnail_rgb(_bytes(_photo(10, (1600, 900)), "JPEG"), 64).size == (64, 36)
    clear = _bytes(Image.new("RGBA", (50, 50), (0, 0, 0, 0)), "PNG")
    thumb = thumbnail_rgb(clear, 10)
    assert thumb.mode == "RGB" and thumb.getpixel((5, 5)) == (255, 255, 255)
    with pytest.raises(RefusedImage):
        thumbnail_rgb(b"nope", 10)
