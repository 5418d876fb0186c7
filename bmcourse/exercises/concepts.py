"""Exercises of the concepts-of-large-models chapter (``book/concepts.ipynb``)."""
from .core import Incorrect, Question, as_whole_number, call_answer, expect_close, expect_equal

# The shapes q1 checks the learner's function on: (n_layer, n_embd, vocab_size, block_size).
_SHAPES = ((1, 8, 10, 4), (4, 128, 65, 64), (12, 768, 50257, 1024), (24, 2048, 50257, 2048))


def _gpt_parameters(n_layer, n_embd, vocab_size, block_size):
    # No biases, tied output layer: GPTConfig(bias=False), our GPT's default.
    return (vocab_size * n_embd + block_size * n_embd
            + n_layer * (12 * n_embd ** 2 + 2 * n_embd) + n_embd)


def _check_parameter_function(function):
    for shape in _SHAPES:
        call = "gpt_parameters(n_layer={}, n_embd={}, vocab_size={}, block_size={})".format(*shape)
        got = as_whole_number(call_answer(function, *shape, call=call,
                                          signature="gpt_parameters(n_layer, n_embd, vocab_size, "
                                                    "block_size)"), what=f"{call}")
        n_layer, n_embd, vocab_size, block_size = shape
        truth = _gpt_parameters(*shape)
        if got == truth + vocab_size * n_embd:
            raise Incorrect(f"{call}: you counted the output layer's V·C separately; it is tied "
                            "to the token embedding (one matrix, counted once).")
        if got == truth - block_size * n_embd:
            raise Incorrect(f"{call}: the position embedding (block_size × n_embd) is missing.")
        if got == truth - (2 * n_layer + 1) * n_embd:
            raise Incorrect(f"{call}: the LayerNorm gains are missing: two per block of n_embd "
                            "each, and the final one.")
        if got == 12 * n_layer * n_embd ** 2:
            raise Incorrect(f"{call}: 12·L·C² is the blocks' matrices only; add the embeddings "
                            "and LayerNorm gains for the exact count.")
        expect_equal(got, truth, what=call)


q1 = Question(
    "A function that counts a GPT's parameters (no biases, tied output layer)",
    check=_check_parameter_function,
    hint="Per block: qkv 3C², output projection C², MLP 4C² + 4C², two LayerNorm gains of C. "
         "Around the blocks: token embedding V·C, position embedding T·C, final LayerNorm C.",
    solution="`return vocab_size * n_embd + block_size * n_embd + n_layer * (12 * n_embd**2 "
             "+ 2 * n_embd) + n_embd`; compare `bmcourse.sizing.gpt_parameter_count`.",
    expects="function",
)


def _check_chinchilla_flops(answer):
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect(f"Give one number of FLOPs (e.g. 1.2e23), got {answer!r}.") from None
    truth = 6 * 70e9 * 1.4e12
    if abs(value - truth / 3) < 0.02 * truth / 3:
        raise Incorrect("That is 2·N·D, the forward pass only; the backward pass costs twice "
                        "the forward.")
    expect_close(value, truth, what="the training FLOPs", rtol=0.02)


q2 = Question(
    "Training FLOPs of Chinchilla: 70 billion parameters, 1.4 trillion tokens",
    check=_check_chinchilla_flops,
    hint="6 FLOPs per parameter per token: 2 forward, 4 backward.",
    solution="6 × 70e9 × 1.4e12 = 5.88e23 FLOPs. At 40% of an H100's ~1e15 dense bf16 FLOP/s "
             "that is about 1.5e9 GPU-seconds: some 17,000 GPU-days.",
)


def _check_gpus(answer):
    count = as_whole_number(answer, what="the number of GPUs")
    if count == 1:
        raise Incorrect("13e9 × 2 bytes = 26 GB holds the bf16 weights, but training also keeps "
                        "gradients, fp32 master weights and two Adam moments: 16 bytes a parameter.")
    if count == 2:
        raise Incorrect("Count 16 bytes per parameter: 13e9 × 16 = 208 GB. How many 80 GB "
                        "GPUs is that?")
    expect_equal(count, 3, what="the number of 80 GB GPUs")


q3 = Question(
    "Fewest 80 GB GPUs to hold a 13B model's mixed-precision Adam training state",
    check=_check_gpus,
    hint="ZeRO's accounting: 2 (bf16 weights) + 2 (gradients) + 4 (fp32 master) + 8 (Adam) "
         "bytes per parameter, split evenly over the GPUs.",
    solution="13e9 × 16 = 208 GB; 208 / 80 = 2.6, so 3 GPUs before any activation: "
             "`bmcourse.sizing.gpus_needed(13e9, 'mixed precision training, Adam')`.",
)


def _check_tokens(answer):
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect(f"Give one number of tokens, got {answer!r}.") from None
    if abs(value - 300e9) < 1e9:
        raise Incorrect("300 billion is what GPT-3 was trained on. Chinchilla's rule asks "
                        "about 20 tokens per parameter.")
    expect_close(value, 20 * 175e9, what="the number of tokens", rtol=0.05)


q4 = Question(
    "Tokens a compute-optimal (Chinchilla) training of a 175B-parameter model would use",
    check=_check_tokens,
    hint="Hoffmann et al. (2022): about 20 training tokens per parameter.",
    solution="20 × 175e9 = 3.5e12 tokens, over ten times the 300 billion GPT-3 saw: by "
             "Chinchilla's measure GPT-3 was much too large for its data.",
)
