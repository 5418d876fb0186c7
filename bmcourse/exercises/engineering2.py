"""Exercises of "Engineering large models II" (``book/engineering2.ipynb``): int8 by hand,
sparse storage, integrated gradients of a linear model, base rates and false alarms,
per-sample clipping, and the bytes of a federated round."""
import warnings

import torch

from ..compress import quantize_per_channel
from .core import Incorrect, Question, as_whole_number, call_answer, expect_close


# ---------------------------------------------------------------------------- int8 by hand


def _as_integers(values, what: str) -> torch.Tensor:
    try:
        values = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError):
        raise Incorrect(f"{what} should be a tensor (or list) of numbers.") from None
    if values.is_floating_point():
        if not torch.isfinite(values).all():
            raise Incorrect(f"{what} contains NaN or infinity: is the scale zero?")
        if not torch.equal(values, values.round()):
            raise Incorrect(f"{what} should hold whole numbers: round w / scale.")
    return values.long()


def _check_quantize_row(function) -> None:
    generator = torch.Generator().manual_seed(0)
    rows = [torch.tensor([1.02, -0.51, 0.255, 0.0])]
    rows += [torch.randn(n, generator=generator) * spread for n, spread in ((7, 0.1), (50, 3.0))]
    rows.append(-rows[1])  # the largest weight negative: it must reach -128
    for row in rows:
        result = call_answer(function, row.clone(), signature="quantize_row(w)")
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise Incorrect("quantize_row should return a pair (q, scale).")
        q, scale = result
        q = _as_integers(q, "q")
        if q.shape != row.shape:
            raise Incorrect(f"q should have the shape of w, {tuple(row.shape)}; got "
                            f"{tuple(q.shape)}.")
        try:
            scale = float(scale)
        except (TypeError, ValueError, RuntimeError):
            raise Incorrect("scale should be one number for the whole row.") from None
        largest = row.abs().max().item()
        if abs(scale - largest / 127) < 1e-9 * largest:
            raise Incorrect("Close: dividing by 127 maps the row onto [-127, 127] and leaves "
                            "-128 unused. PyTorch spreads all 256 levels of [-128, 127] over "
                            "[-max|w|, max|w|]: half of 255.")
        if q.max() > 127 or q.min() < -128:
            raise Incorrect("Some q fall outside int8's range [-128, 127]: the largest weight "
                            "rounds to 128, so clamp after rounding.")
        expected_q, expected_scale = quantize_per_channel(row[None])
        expect_close(scale, expected_scale.item(), what="scale", rtol=1e-6, atol=0)
        # Where w / scale lies (almost) exactly half-way, float rounding may go either way.
        exact = row.double() / expected_scale.double()
        tie = (exact - exact.floor() - 0.5).abs() < 1e-4
        wrong = (q != expected_q[0].long()) & ~(tie & ((q - expected_q[0].long()).abs() <= 1))
        if wrong.any():
            raise Incorrect(f"q differs from the expected integers in {int(wrong.sum())} of "
                            f"{row.numel()} places: round w / scale to the nearest integer.")


q1 = Question(
    "Symmetric int8 quantization of one weight row",
    check=_check_quantize_row,
    hint="One scale for the row: the largest |w| spread over half of int8's 255 steps. Then "
         "q = round(w / scale), kept inside [-128, 127].",
    solution="`scale = w.abs().max() / 127.5`, "
             "`q = torch.clamp(torch.round(w / scale), -128, 127)`: what "
             "`bmcourse.compress.quantize_per_channel` does for each row of a matrix.",
    points=2,
    expects="function",
)

# ---------------------------------------------------------------------------- sparse storage


def _csr_bytes(weight: torch.Tensor) -> int:
    """Bytes of PyTorch's CSR copy of ``weight``: its values, column indices and row pointers."""
    with warnings.catch_warnings():
        # PyTorch flags sparse CSR support as beta; the three tensors read here are stable.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta",
                                category=UserWarning)
        csr = weight.to_sparse_csr()
    return sum(t.numel() * t.element_size()
               for t in (csr.values(), csr.col_indices(), csr.crow_indices()))


def _check_csr_bytes(function) -> None:
    generator = torch.Generator().manual_seed(1)
    for rows, cols, zeros in ((256, 800, 0.9), (10, 7, 0.5), (33, 64, 0.99)):
        weight = torch.randn(rows, cols, generator=generator)
        weight[torch.rand(rows, cols, generator=generator) < zeros] = 0.0
        answer = call_answer(function, weight.clone(), signature="csr_bytes(weight)")
        answer = as_whole_number(answer, what="csr_bytes(weight)")
        nnz = int((weight != 0).sum())
        if answer == 4 * rows * cols:
            raise Incorrect("That is the dense size: CSR stores only the non-zero values, plus "
                            "where they are.")
        if answer == 12 * nnz:
            raise Incorrect("Values and column indices are right; CSR also stores a row pointer "
                            "array (where each row starts), with one more entry than rows.")
        if answer == 8 * nnz + 4 * (rows + 1):
            raise Incorrect("PyTorch's CSR indices are int64 (8 bytes each) by default, not "
                            "int32.")
        if answer != _csr_bytes(weight):
            raise Incorrect(f"csr_bytes is off for a {rows} x {cols} weight with {nnz} non-zeros: "
                            "count float32 values, int64 column indices and int64 row pointers.")


q2 = Question(
    "Bytes of a pruned weight in PyTorch's CSR format",
    check=_check_csr_bytes,
    hint="`weight.to_sparse_csr()` keeps three tensors: `values()` (float32, one per "
         "non-zero), `col_indices()` (int64, one per non-zero) and `crow_indices()` (int64, "
         "rows + 1 of them). Compare with 4 bytes per entry for the dense tensor.",
    solution="`nnz = int((weight != 0).sum())`; bytes = `4 * nnz + 8 * nnz + 8 * (rows + 1)`. "
             "At 12 bytes per non-zero against 4 per dense entry, CSR is smaller only when more "
             "than about two thirds of the weights are zero.",
    points=2,
    expects="function",
)


# ---------------------------------------------------------------------------- IG of a linear model

def _check_linear_ig(linear_ig):
    generator = torch.Generator().manual_seed(0)
    signature = "linear_ig(w, x, baseline)"
    for shape in ((5,), (2, 3)):
        w = torch.randn(shape, dtype=torch.float64, generator=generator)
        x = torch.randn(shape, dtype=torch.float64, generator=generator)
        baseline = torch.randn(shape, dtype=torch.float64, generator=generator)
        result = call_answer(linear_ig, w, x, baseline, signature=signature)
        if not isinstance(result, torch.Tensor) or result.shape != x.shape:
            got = (tuple(result.shape) if isinstance(result, torch.Tensor)
                   else type(result).__name__)
            raise Incorrect(f"linear_ig must return a tensor shaped like x {tuple(x.shape)}, "
                            f"got {got}.")
        expected = (x - baseline) * w
        if torch.allclose(result.double(), x * w):
            raise Incorrect("That is gradient × input, which equals IG only for a zero baseline: "
                            "the path starts at the baseline, not at 0.")
        if torch.allclose(result.double(), w.expand_as(x)):
            raise Incorrect("That is the gradient (the saliency map); IG multiplies it by how far "
                            "each input moved along the path.")
        if not torch.allclose(result.double(), expected, rtol=1e-6, atol=1e-9):
            raise Incorrect("The attributions are not right yet. Check that they add up to "
                            "f(x) - f(baseline) = w · (x - baseline).")


q3 = Question(
    "Integrated gradients of a linear score f(x) = w · x + b, by hand",
    check=_check_linear_ig,
    hint="The gradient of a linear function is the same everywhere on the path from the "
         "baseline to x. What is left of the integral over α from 0 to 1?",
    solution="```python\ndef linear_ig(w, x, baseline):\n    return (x - baseline) * w\n```\n"
             "∇f = w on the whole path, so ∫₀¹ w dα = w and IG = (x − x′) ⊙ w. The sum is "
             "w · (x − x′) = f(x) − f(x′): completeness holds exactly, with any number of steps.",
    points=1,
    expects="function",
)


# ---------------------------------------------------------------------------- Chouldechova

def _check_fpr(answer):
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect(f"Give the false-positive rate as a number between 0 and 1, got "
                        f"{type(answer).__name__}.") from None
    if not 0 <= value <= 1:
        raise Incorrect("A false-positive rate is a fraction between 0 and 1 (e.g. 0.1 for "
                        "10%), not a percentage.")
    # Group B: p = 0.2, PPV = 0.8, FNR = 0.2 -> FPR = p/(1-p) * (1-PPV)/PPV * (1-FNR).
    expected = 0.2 / 0.8 * (0.2 / 0.8) * (1 - 0.2)
    if abs(value - 0.2) < 1e-9:
        raise Incorrect("That is group A's rate. Group B has a lower base rate; redo the "
                        "identity with p = 0.2.")
    if abs(value - expected) > 1e-3 * expected:
        # No distance in the message: it would give the answer away.
        raise Incorrect("Not group B's false-positive rate yet. Write the identity for FPR in "
                        "terms of p, PPV and FNR, or count false alarms per 100 people of B.")


q4 = Question(
    "The false-positive rate that equal precision and equal miss rates force on a group with "
    "a lower base rate",
    check=_check_fpr,
    hint="Count per 100 people of group B: how many are positive (base rate), how many of "
         "them the classifier finds (1 − FNR), how many false alarms that precision allows, "
         "and divide by the number of negatives.",
    solution="FPR = p/(1 − p) · (1 − PPV)/PPV · (1 − FNR). Group A: 1 · 0.25 · 0.8 = 0.2. "
             "Group B: 0.25 · 0.25 · 0.8 = **0.05**. Per 100 people of B: 20 positives, 16 "
             "found; PPV 0.8 allows 4 false alarms among 80 negatives: 4/80 = 0.05. Equal "
             "precision and equal miss rates force FPRs of 20% and 5%.",
    points=1,
)


# ---------------------------------------------------------------------------- clip by hand

def _clipped_rows(g: torch.Tensor, C: float) -> torch.Tensor:
    """The reference: every row scaled to L2 norm at most C; shorter rows unchanged."""
    norms = g.norm(dim=1, keepdim=True)
    return g * torch.where(norms > C, C / norms, torch.ones_like(norms))


def _check_clip_rows(clip_rows):
    generator = torch.Generator().manual_seed(0)
    g = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    g[1] *= 0.05   # a short row: it must not change
    g[4] *= 10.0   # a long row: it must shrink to norm C
    g[5] = 0.0     # a zero gradient must stay zero (no 0 / 0)
    C = 1.0
    result = call_answer(clip_rows, g.clone(), C, signature="clip_rows(g, C)")
    if not isinstance(result, torch.Tensor) or result.shape != g.shape:
        shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise Incorrect(f"clip_rows must return a tensor of the input's shape (6, 5), got {shape}.")
    result = result.to(torch.float64)
    if torch.isnan(result).any():
        raise Incorrect("A row of zeros became NaN: its norm is 0, and C / 0 is infinite. Scale "
                        "only rows whose norm exceeds C (or cap the factor at 1 before "
                        "multiplying).")
    expected = _clipped_rows(g, C)
    if torch.allclose(result, expected, rtol=1e-5, atol=1e-8):
        return
    whole = g * min(1.0, C / g.norm().item())
    if torch.allclose(result, whole, rtol=1e-5, atol=1e-8):
        raise Incorrect("You clipped the whole matrix by its total norm (what clip_grad_norm_ "
                        "does to a batch's gradient). DP-SGD clips each example — each row — by "
                        "its own norm.")
    if torch.allclose(result, g.clamp(-C, C), rtol=1e-5, atol=1e-8):
        raise Incorrect("Clamping each entry to [-C, C] bounds the entries, not the row's L2 "
                        "norm: a row of 5 entries near C would still have norm near C·√5.")
    norms = result.norm(dim=1)
    if (norms > C * (1 + 1e-5)).any():
        raise Incorrect("Some rows still have an L2 norm above C.")
    if not torch.allclose(result[1], g[1], rtol=1e-5, atol=1e-8):
        raise Incorrect("A row whose norm is already below C must stay exactly as it is; yours "
                        "changed it (rows are scaled down, never up).")
    raise Incorrect("Rows are bounded by C, but not scaled along their own direction: multiply "
                    "each long row by C / ‖row‖.")


q5 = Question(
    "Clip per-sample gradients by hand",
    check=_check_clip_rows,
    hint="Compute each row's norm with g.norm(dim=1, keepdim=True), then multiply the row by "
         "min(1, C / norm); torch.clamp(..., max=1.0) caps a factor at 1.",
    solution="`g * (C / g.norm(dim=1, keepdim=True)).clamp(max=1.0)`: a row of zeros gives "
             "C / 0 = inf, capped to 1, and stays zero. `bmcourse.privacy.clip_per_sample` does "
             "the same over a dict of parameters (adding 1e-6 to the norm, as Opacus does).",
    expects="function",
)


# ---------------------------------------------------------------------------- bytes per round

_MCMAHAN_CNN_PARAMETERS = 1_663_370


def _check_fedavg_bytes(answer):
    sent = as_whole_number(answer, what="the bytes per round")
    per_client = _MCMAHAN_CNN_PARAMETERS * 4
    right = per_client * 10 * 2
    if sent == right:
        return
    if sent == right // 2:
        raise Incorrect("Count both directions: the server sends the weights to each client, "
                        "and each client sends its weights back.")
    if sent == right * 10:
        raise Incorrect("Only the fraction C of the clients takes part in a round.")
    if sent == right * 8:
        raise Incorrect("That is in bits; the question asks for bytes.")
    if sent == right // 4:
        raise Incorrect("That counts parameters; a float32 parameter takes 4 bytes.")
    raise Incorrect(f"{sent:,} bytes is not it: multiply parameters × bytes per parameter × "
                    "clients in a round × directions.")


q6 = Question(
    "Bytes one FedAvg round sends for McMahan et al.'s MNIST CNN",
    check=_check_fedavg_bytes,
    hint="A round involves max(1, round(C·K)) clients; each receives the model and sends it "
         "back, in float32 (4 bytes a parameter).",
    solution="1,663,370 parameters × 4 bytes × 10 clients × 2 directions = **133,069,600 "
             "bytes** (about 133 MB) per round; `federated.state_bytes(model)` measures the "
             "first two factors for a real model.",
)
