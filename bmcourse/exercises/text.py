"""Exercises of the text-generation chapter (``book/text.ipynb``)."""
import math

import torch

from ..models.gpt import GPT, GPTConfig, filter_logits
from ..training.muon import NS_COEFFICIENTS, newton_schulz
from .core import Incorrect, Question, as_whole_number, call_answer, expect_close, expect_equal


def _check_top_k(top_k_filter):
    g = torch.Generator().manual_seed(0)
    for k in (1, 3, 10):
        logits = torch.randn(10, generator=g) * 3
        result = call_answer(top_k_filter, logits.clone(), k, signature="top_k_filter(logits, k)",
                             call=f"top_k_filter(logits, k={k})")
        if not isinstance(result, torch.Tensor) or result.shape != logits.shape:
            raise Incorrect("top_k_filter must return a tensor of the same shape as logits "
                            "(10,), with -inf in place of the dropped logits.")
        kept = torch.isfinite(result)
        if int(kept.sum()) != k:
            raise Incorrect(f"With k={k}, {int(kept.sum())} logits stayed finite; exactly k should.")
        if torch.allclose(result[kept], torch.softmax(logits, -1)[kept]):
            raise Incorrect("Return filtered *logits*; the sampler applies the softmax after.")
        expect_equal(result, filter_logits(logits, top_k=k), what=f"top_k_filter(logits, k={k})")


q1 = Question(
    "Top-k filtering",
    check=_check_top_k,
    hint="`torch.topk(logits, k).values[-1]` is the k-th largest logit; set every logit "
         "smaller than it to `float('-inf')` (e.g. with `masked_fill`).",
    solution="```python\ndef top_k_filter(logits, k):\n"
             "    kth_largest = torch.topk(logits, k).values[-1]\n"
             "    return logits.masked_fill(logits < kth_largest, float('-inf'))\n```",
    expects="function",
)

_Q2_CONFIG = GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65)


def _check_parameter_count(answer):
    count = as_whole_number(answer, what="the parameter count")
    expected = GPT(_Q2_CONFIG).num_parameters(non_embedding=False)
    untied = expected + 65 * 128
    if count == untied:
        raise Incorrect("The output layer shares its weight with the token embedding (weight "
                        "tying): count that 65 x 128 matrix once.")
    if count == expected - 64 * 128:
        raise Incorrect("Include the position embedding (block_size x n_embd) too.")
    if count == expected - 2 * 128 * 4 - 128:
        raise Incorrect("Add the LayerNorm gains: two per block and one at the end, n_embd each "
                        "(bias=False, so no LayerNorm biases).")
    expect_equal(count, expected, what="the parameter count")


q2 = Question(
    "Parameters of GPT(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, bias=False)",
    check=_check_parameter_count,
    hint="Per block: attention has 4 C x C matrices (query, key, value, output), the MLP "
         "C x 4C and 4C x C, and two LayerNorm gains of C. Then the embeddings.",
    solution="Per block 12·128² + 2·128 = 196,864; four blocks 787,456; final LayerNorm 128; "
             "token embedding 65·128 = 8,320 (shared with the output layer); positions "
             "64·128 = 8,192. Total 804,096 — `GPT(config).num_parameters(non_embedding=False)`.",
)


def _check_one_merge(answer):
    if isinstance(answer, str) or not all(isinstance(t, str) for t in answer):
        raise Incorrect("Give the tokens as a list of strings, e.g. ['ab', 'c', ...].")
    tokens = list(answer)
    if "".join(tokens) != "aaabdaaabac":
        raise Incorrect("The tokens must still spell 'aaabdaaabac' when joined.")
    if tokens == ["a", "aa", "b", "d", "a", "aa", "b", "a", "c"]:
        raise Incorrect("Merges are applied left to right: the first two a's of 'aaa' pair up.")
    if "ab" in tokens:
        raise Incorrect("'ab' occurs twice; count 'aa' (overlapping pairs count: 'aaa' holds two).")
    expect_equal(tokens, ["aa", "a", "b", "d", "aa", "a", "b", "a", "c"], what="the tokens")


q3 = Question(
    "One BPE merge by hand on 'aaabdaaabac'",
    check=_check_one_merge,
    hint="Count every adjacent pair (aa, ab, bd, ...), overlapping ones included; replace the "
         "most frequent one, left to right.",
    solution="Pairs: aa 4, ab 2, bd 1, da 1, ba 1, ac 1, so 'aa' is merged: "
             "`['aa', 'a', 'b', 'd', 'aa', 'a', 'b', 'a', 'c']`. "
             "`BytePairTokenizer.train('aaabdaaabac', 257).merges` agrees.",
)


def _check_bits_per_character(answer):
    expected = 3.2 * 1000 / (3100 * math.log(2))
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect("Give one number, the bits per character.") from None
    if math.isclose(value, 3.2 / math.log(2), rel_tol=1e-3):
        raise Incorrect("That is bits per *token*; a token here is 3.1 characters on average.")
    if math.isclose(value, 3.2 * 1000 / 3100, rel_tol=1e-3):
        raise Incorrect("That is nats per character: divide by ln 2 for bits.")
    expect_close(value, expected, what="bits per character", rtol=1e-3)


q4 = Question(
    "Bits per character of a BPE model",
    check=_check_bits_per_character,
    hint="Total information = loss per token × tokens (in nats); share it over the characters "
         "and convert nats to bits (divide by ln 2).",
    solution="3.2 × 1000 / (3100 × ln 2) ≈ 1.489 bits per character; "
             "`bmcourse.metrics.bits_per_character(3.2, 1000, 3100)`.",
)


def _check_newton_schulz_step(newton_schulz_step):
    a, b, c = NS_COEFFICIENTS
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64)
    x = x / x.norm()  # as Muon starts: every singular value at most 1
    result = call_answer(newton_schulz_step, x.clone(), signature="newton_schulz_step(x)",
                         call="newton_schulz_step(x) for a 3 x 5 matrix x")
    if not isinstance(result, torch.Tensor) or result.shape != x.shape:
        raise Incorrect("newton_schulz_step must return a tensor of the shape of x (3, 5 here). "
                        "X Xᵀ is 3 x 3: multiply it on the left of X.")
    gram = x @ x.T
    if torch.allclose(result, a * x + b * gram @ x + c * gram @ x, atol=1e-9):
        raise Incorrect("The last term is c (X Xᵀ)² X: the Gram matrix twice, then X.")
    if torch.allclose(result, a * x, atol=1e-9):
        raise Incorrect("Only a X so far: add b (X Xᵀ) X and c (X Xᵀ)² X.")
    # x has norm 1, so the package's own normalisation leaves it unchanged
    expect_close(result, newton_schulz(x, steps=1, dtype=torch.float64),
                 what="newton_schulz_step(x)", rtol=1e-6, atol=1e-9)


q5 = Question(
    "One Newton–Schulz step",
    check=_check_newton_schulz_step,
    hint="With G = X Xᵀ (use `x @ x.T`), the step is a X + b G X + c G G X, with "
         "(a, b, c) = (3.4445, -4.775, 2.0315). No normalisation inside the step.",
    solution="```python\ndef newton_schulz_step(x, a=3.4445, b=-4.775, c=2.0315):\n"
             "    gram = x @ x.T\n"
             "    return a * x + b * gram @ x + c * gram @ gram @ x\n```\n"
             "It maps every singular value s to a s + b s³ + c s⁵: 0.5 becomes about 1.19, "
             "0.1 about 0.34. `bmcourse.training.muon.newton_schulz(x, steps=1)` does the same "
             "after dividing x by its norm.",
    expects="function",
)
