"""The concepts chapter's exercises accept right answers and explain the common wrong ones."""
from bmcourse.exercises import concepts as ex
from bmcourse.models.gpt import GPTConfig
from bmcourse.sizing import gpt_parameter_count


def correct(n_layer, n_embd, vocab_size, block_size):
    return gpt_parameter_count(GPTConfig(n_layer=n_layer, n_head=1, n_embd=n_embd,
                                         vocab_size=vocab_size, block_size=block_size))


def test_parameter_function_is_checked_against_the_closed_form():
    assert ex.q1.check(correct)
    untied = ex.q1.check(lambda L, C, V, T: correct(L, C, V, T) + V * C)
    assert not untied and "tied" in untied.message
    no_positions = ex.q1.check(lambda L, C, V, T: correct(L, C, V, T) - T * C)
    assert not no_positions and "position" in no_positions.message
    matrices_only = ex.q1.check(lambda L, C, V, T: 12 * L * C * C)
    assert not matrices_only and "12·L·C²" in matrices_only.message
    assert not ex.q1.check(123)  # not a function
    assert not ex.q1.check(lambda L, C, V, T: 1 / 0)


def test_chinchilla_flops():
    assert ex.q2.check(5.88e23)
    forward_only = ex.q2.check(2 * 70e9 * 1.4e12)
    assert not forward_only and "forward" in forward_only.message
    assert not ex.q2.check("a lot")


def test_gpus_for_a_13b_model():
    assert ex.q3.check(3)
    weights_only = ex.q3.check(1)
    assert not weights_only and "16 bytes" in weights_only.message
    assert not ex.q3.check(2.5)


def test_chinchilla_tokens():
    assert ex.q4.check(3.5e12)
    gpt3 = ex.q4.check(300e9)
    assert not gpt3 and "20 tokens" in gpt3.message
