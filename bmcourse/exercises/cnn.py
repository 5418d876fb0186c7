"""Exercises of the CNN chapter (``book/cnn.ipynb``)."""
import torch

from .core import Incorrect, Question, as_whole_number, call_answer, expect_close, expect_equal


def _check_output_shape(answer):
    try:
        sizes = tuple(answer) if not isinstance(answer, str) else None
    except TypeError:
        sizes = None
    if sizes is None:
        raise Incorrect("Give the shape as a tuple of three whole numbers: (channels, height, width).")
    shape = tuple(as_whole_number(s, what="each size in the shape") for s in sizes)
    if len(shape) != 3:
        raise Incorrect(f"Give three numbers (channels, height, width), not {len(shape)}; "
                        "leave out the batch dimension.")
    if shape[0] != 16:
        raise Incorrect(f"{shape[0]} channels? A convolution has as many output channels as "
                        "filters (its out_channels).")
    if shape[1:] == (14, 14):
        raise Incorrect("Close: the padding adds a pixel on both sides, so n + 2p, not n + p.")
    if shape[1:] == (16, 16):
        raise Incorrect("Close: round (n + 2p - k) / s down before adding 1.")
    expect_equal(shape, (16, 15, 15), what="the output shape")


q1 = Question(
    "Output shape of nn.Conv2d(3, 16, kernel_size=5, stride=2, padding=1) on a 3x32x32 image",
    check=_check_output_shape,
    hint="Output side = floor((n + 2p - k) / s) + 1, and there is one output map per filter.",
    solution="floor((32 + 2·1 - 5) / 2) + 1 = floor(14.5) + 1 = 15, so `(16, 15, 15)`. "
             "Check: `nn.Conv2d(3, 16, 5, stride=2, padding=1)(torch.zeros(1, 3, 32, 32)).shape`.",
)


def _check_parameter_count(answer):
    count = as_whole_number(answer, what="the parameter count")
    if count == 64 * 128 * 9:
        raise Incorrect("You counted the weights; each of the 128 filters also has a bias.")
    if count == 128 * 9 + 128:
        raise Incorrect("Each filter spans all 64 input channels, not just one.")
    expect_equal(count, 128 * (64 * 3 * 3 + 1), what="the parameter count")


q2 = Question(
    "Parameters of nn.Conv2d(64, 128, kernel_size=3)",
    check=_check_parameter_count,
    hint="Each of the C_out filters has C_in × k × k weights and one bias.",
    solution="128 × (64 × 3 × 3 + 1) = 73,856. It does not depend on the image size.",
)


def _check_receptive_field(answer):
    field = as_whole_number(answer, what="the receptive field (the side of the square input patch)")
    if field == 9:
        raise Incorrect("Fields do not add up like kernels: each 3x3 layer adds k - 1 = 2 pixels.")
    expect_equal(field, 7, what="the receptive field")


q3 = Question(
    "Receptive field of three stacked 3x3 convolutions (stride 1)",
    check=_check_receptive_field,
    hint="Start from r = 1 and apply r ← r + (k - 1)·j with jump j = 1 for each layer.",
    solution="1 + 2 + 2 + 2 = 7: three 3x3 layers see a 7x7 patch, as one 7x7 layer would, "
             "with 3·9·C² instead of 49·C² weights.",
)


def _shifted(image, dy, dx):
    """The reference answer: ``image`` (C, H, W) moved down by dy and right by dx, zero-filled."""
    _, h, w = image.shape
    out = torch.zeros_like(image)
    out[:, max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        image[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def _check_shift(shift_image):
    image = torch.rand(1, 6, 7, generator=torch.Generator().manual_seed(0))
    for dy, dx in ((0, 0), (1, 0), (0, -2), (-1, 2), (2, 1)):
        result = call_answer(shift_image, image.clone(), dy, dx, signature="shift_image(image, dy, dx)",
                             call=f"shift_image(image, dy={dy}, dx={dx})")
        if not isinstance(result, torch.Tensor):
            raise Incorrect(f"shift_image must return a tensor of the input's shape (1, 6, 7), got "
                            f"type {type(result).__name__}; start from torch.zeros_like(image).")
        if result.shape != image.shape:
            raise Incorrect(f"shift_image must return a tensor of the input's shape (1, 6, 7), got "
                            f"shape {tuple(result.shape)}.")
        if result.dtype != image.dtype:
            # Comparing float64 with float32 would fail inside torch.allclose, far from the cause.
            raise Incorrect(f"shift_image returned {result.dtype} for a {image.dtype} image; moving "
                            "pixels should not change their type (torch.zeros_like(image) keeps it).")
        if (dy, dx) != (0, 0):
            if torch.allclose(result, torch.roll(image, (dy, dx), dims=(1, 2))):
                raise Incorrect("torch.roll wraps pixels around to the other side; they should "
                                "fall off the edge and the gap be filled with zeros.")
            if torch.allclose(result, _shifted(image, -dy, -dx)):
                raise Incorrect("The image moved the wrong way: a positive dy moves the content "
                                "down, a positive dx moves it right.")
        expect_close(result, _shifted(image, dy, dx), what=f"shift_image(image, dy={dy}, dx={dx})")


q4 = Question(
    "Shift an image with zero fill",
    check=_check_shift,
    hint="Start from `torch.zeros_like(image)` and copy the part of the image that stays "
         "inside into the moved position; slices with max(0, ...) handle both directions.",
    solution="```python\ndef shift_image(image, dy, dx):\n"
             "    _, h, w = image.shape\n"
             "    out = torch.zeros_like(image)\n"
             "    out[:, max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \\\n"
             "        image[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]\n"
             "    return out\n```",
    expects="function",
)
