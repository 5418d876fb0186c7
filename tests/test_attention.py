"""bmcourse.models.attention against PyTorch's own attention, in float64."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bmcourse.models.attention import (MultiHeadAttention, causal_mask, padding_mask,
                                       scaled_dot_product_attention)

TOL = dict(rtol=1e-6, atol=1e-6)


def qkv(B=2, H=3, T=5, S=None, d=4, dv=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    S = T if S is None else S
    return (torch.randn(B, H, T, d, generator=g, dtype=torch.float64),
            torch.randn(B, H, S, d, generator=g, dtype=torch.float64),
            torch.randn(B, H, S, dv, generator=g, dtype=torch.float64))


def test_causal_mask_is_lower_triangular():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m[2, :3].all() and not m[2, 3:].any()  # position 2 sees 0, 1, 2
    assert m.sum().item() == 4 * 5 // 2


def test_padding_mask_blocks_keys_past_each_length():
    m = padding_mask([3, 1], T=4)
    assert m.shape == (2, 1, 1, 4)
    assert m[0, 0, 0].tolist() == [True, True, True, False]
    assert m[1, 0, 0].tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="length"):
        padding_mask([0, 2])


@pytest.mark.parametrize("S", [5, 7])
def test_unmasked_matches_torch(S):
    q, k, v = qkv(S=S)
    ours, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v), **TOL)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64), **TOL)


def test_causal_matches_torch_and_ignores_the_future():
    q, k, v = qkv()
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)
    # Changing the last key and value must not change any earlier output.
    k2, v2 = k.clone(), v.clone()
    k2[..., -1, :] += 10.0
    v2[..., -1, :] -= 10.0
    changed = scaled_dot_product_attention(q, k2, v2, causal=True)
    torch.testing.assert_close(changed[..., :-1, :], ours[..., :-1, :], **TOL)


def test_padding_and_causal_masks_match_torch():
    q, k, v = qkv()
    mask = padding_mask([5, 3], T=5)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    both = mask & causal_mask(5)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=mask, causal=True),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=both), **TOL)


def test_fully_masked_row_gives_zeros_not_nan():
    q, k, v = qkv(B=1, H=1, T=3)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert torch.isfinite(out).all()
    assert (out[..., 1, :] == 0).all() and (w[..., 1, :] == 0).all()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)


def test_bad_shapes_raise_clear_errors():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="d_k"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="pairs"):
        scaled_dot_product_attention(q, k, v[..., :4, :])
    with pytest.raises(ValueError, match="leading"):
        scaled_dot_product_attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="broadcast"):
        scaled_dot_product_attention(q, k, v, mask=causal_mask(4))
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(q, k, v, mask=torch.zeros(5, 5))
    with pytest.raises(ValueError, match="explicit"):
        scaled_dot_product_attention(q[..., :2, :], k, v, causal=True)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        MultiHeadAttention(8, 2)(torch.randn(5, 8))


def torch_pair(d_model=12, n_heads=3, bias=True, use_fused=False, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True).double().eval()
    return ref, MultiHeadAttention.from_torch(ref, use_fused=use_fused).eval()


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_heads", [1, 3])
def test_multihead_matches_nn_multiheadattention(use_fused, bias, n_heads):
    ref, ours = torch_pair(n_heads=n_heads, bias=bias, use_fused=use_fused)
    x = torch.randn(4, 6, 12, dtype=torch.float64)
    expected, expected_w = ref(x, x, x, average_attn_weights=False)
    torch.testing.assert_close(ours(x), expected, **TOL)
    out, w = ours(x, need_weights=True)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(w, expected_w, **TOL)


@pytest.mark.parametrize("use_fused", [False, True])
def test_multihead_masks_match_nn_multiheadattention(use_fused):
    ref, ours = torch_pair(use_fused=use_fused)
    x = torch.randn(3, 6, 12, dtype=torch.float64)
    lengths = [6, 4, 2]
    keep = padding_mask(lengths, T=6)  # (B, 1, 1, T), True = attend
    # nn.MultiheadAttention's boolean masks mean the opposite: True = blocked.
    blocked_keys = ~keep[:, 0, 0, :]
    blocked_future = ~causal_mask(6)
    expected, _ = ref(x, x, x, key_padding_mask=blocked_keys, attn_mask=blocked_future)
    out = ours(x, mask=keep, causal=True)
    torch.testing.assert_close(out, expected, **TOL)


def test_module_runs_backward_and_dropout_only_in_training():
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 5, 8, requires_grad=True)
    mha(x, causal=True).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    mha.eval()
    torch.testing.assert_close(mha(x), mha(x))
    mha.train()
    assert not torch.allclose(mha(x), mha(x))


@pytest.mark.parametrize("d_model, n_heads, error, message", [
    (8, 0, ValueError, "n_heads must be at least 1"),
    (8, -2, ValueError, "n_heads must be at least 1"),
    (0, 1, ValueError, "d_model must be at least 1"),
    (10, 3, ValueError, "nearest that do are 2 and 5"),
    (8, 16, ValueError, "largest that does is 8"),
    (8.0, 2, TypeError, "d_model must be a whole number"),
    (8, 2.5, TypeError, "n_heads must be a whole number"),
    ("8", 2, TypeError, "d_model must be a whole number"),
    (8, True, TypeError, "n_heads must be a whole number"),
])
def test_invalid_sizes_are_named_with_their_fix(d_model, n_heads, error, message):
    with pytest.raises(error, match=message):
        MultiHeadAttention(d_model, n_heads)


def test_dropout_must_be_a_probability():
    with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
        MultiHeadAttention(8, 2, dropout=1.5)
    with pytest.raises(TypeError, match="dropout must be a number"):
        MultiHeadAttention(8, 2, dropout=None)


def test_numpy_integer_sizes_are_accepted_as_ints():
    import numpy as np

    mha = MultiHeadAttention(np.int64(8), np.int64(2))
    assert type(mha.d_model) is int and type(mha.n_heads) is int
    assert mha(torch.randn(1, 3, 8)).shape == (1, 3, 8)
