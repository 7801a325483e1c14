"""The prefill budget: how many waiting prompts the next batched prefill pass takes."""

from pensieve_mlx.prefill_budget import PrefillBudget


def test_short_prompts_fill_a_pass_up_to_the_batch_width() -> None:
    budget = PrefillBudget(prompts=8, tokens=2048, most=64)
    for uid in range(64):
        budget.add(uid, 16)
    assert budget.count() == 64
    budget.add(64, 16)
    assert budget.count() == 64  # never wider than the batch


def test_long_prompts_go_as_many_as_the_floor_allows() -> None:
    budget = PrefillBudget(prompts=8, tokens=2048, most=64)
    for uid in range(20):
        budget.add(uid, 256)
    assert budget.count() == 8
    budget.leave(range(8))
    budget.add(20, 256)
    assert budget.count() == 8
    assert len(budget) == 13


def test_the_budget_counts_from_the_first_waiting_prompt() -> None:
    budget = PrefillBudget(prompts=2, tokens=100, most=16)
    for uid, tokens in enumerate([10, 10, 30, 40, 20, 5]):
        budget.add(uid, tokens)
    assert budget.count() == 4  # 10+10+30+40 = 90; the fifth would make 110
    budget.leave([0, 1])
    assert budget.count() == 4  # 30+40+20+5 = 95
    budget.clear()
    assert budget.count() == 2
    assert len(budget) == 0


def test_the_floor_never_exceeds_the_batch_width() -> None:
    assert PrefillBudget(prompts=8, tokens=0, most=4).count() == 4
