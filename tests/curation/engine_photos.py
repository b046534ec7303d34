"""Re-post transforms of the generated test photos, shared by the engine and dedup CLI tests."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from tests.fakes import images

SIZE = (600, 750)


def photo(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    return images.photo(seed, size)


def jpeg(img: Image.Image, quality: int = 88) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(left * w), round(top * h), round((1 - right) * w), round((1 - bottom) * h)))


def screenshot(img: Image.Image) -> Image.Image:
    """The photo in a phone screenshot: bars, a name, caption lines."""
    canvas = Image.new("RGB", (540, 1170), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((20, 15), "9:41", fill=(0, 0, 0))
    draw.text((80, 80), "brussels.daily", fill=(0, 0, 0))
    shown = img.resize((540, round(img.height * 540 / img.width)))
    canvas.paste(shown, (0, 150))
    for i, line in enumerate(("1,204 likes", "Golden hour #welovebrussels")):
        draw.text((20, 170 + shown.height + 30 * i), line, fill=(0, 0, 0))
    draw.rectangle((0, 1100, 540, 1170), fill=(200, 200, 200))
    return canvas


def watermark(img: Image.Image) -> Image.Image:
    out = img.copy()
    ImageDraw.Draw(out).text((img.width - 120, img.height - 30), "@visit_bxl", fill=(255, 255, 255))
    return out


TRANSFORMS = {
    "resize 50%": lambda im: jpeg(im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)),
    "jpeg q40": lambda im: jpeg(im, 40),
    "brightness +20%": lambda im: jpeg(ImageEnhance.Brightness(im).enhance(1.2)),
    "brightness +18%": lambda im: jpeg(ImageEnhance.Brightness(im).enhance(1.18)),
    "grayscale": lambda im: jpeg(im.convert("L")),
    "watermark": lambda im: jpeg(watermark(im)),
    "crop 5%": lambda im: jpeg(crop(im, 0.025, 0.025, 0.025, 0.025)),
    "crop 15%": lambda im: jpeg(crop(im, 0.075, 0.075, 0.075, 0.075)),
    "crop 10% left": lambda im: jpeg(crop(im, 0.1, 0, 0, 0)),
    "corner crop 9% of area": lambda im: jpeg(crop(im, 0, 0, 0.046, 0.046)),  # the top-left 91% kept
    "corner crop 9% left+top": lambda im: jpeg(crop(im, 0.09, 0.09, 0, 0)),
    "corner crop 9% right+top": lambda im: jpeg(crop(im, 0, 0.09, 0.09, 0)),
    "border 5%": lambda im: jpeg(ImageOps.expand(im, border=(30, 38), fill=(255, 255, 255))),
    "screenshot": lambda im: jpeg(screenshot(im)),
    "mirror": lambda im: jpeg(ImageOps.mirror(im)),
    "rotate 90": lambda im: jpeg(im.transpose(Image.Transpose.ROTATE_90)),
}
