"""The evaluation's metrics: hand-computed cases, then trec_eval (pytrec_eval) as an oracle on random rankings."""

import math
import random

import pytest
import pytrec_eval

from evaluation.metrics import RECALL_LEVELS, mean_scores, score_query

LOG2 = math.log2


def test_a_worked_example():
    # Relevant a, b, c; retrieved a x b y, k = 3: hits at ranks 1 and 3, c never found.
    s = score_query(["a", "x", "b", "y"], {"a", "b", "c"}, k=3)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.ap == pytest.approx((1 / 1 + 2 / 3) / 3)  # c, never retrieved, adds 0 but counts in the denominator
    assert s.rr == 1.0
    assert s.ndcg == pytest.approx((1 + 1 / LOG2(4)) / (1 + 1 / LOG2(3) + 1 / LOG2(4)))
    assert s.curve == pytest.approx([1, 1, 1, 1, 2 / 3, 2 / 3, 2 / 3, 0, 0, 0, 0])


def test_no_relevant_items_means_no_scores_and_no_weight_in_the_mean():
    assert score_query(["a", "b"], set(), k=2) is None
    one = score_query(["a"], {"a"}, k=1)
    assert mean_scores([one, None]) == one
    assert mean_scores([None, None]) is None


def test_fewer_results_than_k():
    s = score_query(["x", "a"], {"a"}, k=10)
    assert s.precision == pytest.approx(1 / 10)  # trec_eval's P@k: divided by k, not by the 2 results
    assert s.recall == 1.0 and s.rr == 0.5 and s.ap == 0.5
    assert s.f1 == pytest.approx(2 * 0.1 * 1 / 1.1)
    assert s.ndcg == pytest.approx(1 / LOG2(3))
    assert score_query([], {"a"}, k=5).precision == 0.0


def test_ties_keep_the_order_the_search_returned():
    # Two results with equal scores: the metrics read the list as ranked and never re-sort it.
    assert score_query(["x", "a"], {"a"}, k=1).precision == 0.0
    assert score_query(["a", "x"], {"a"}, k=1).precision == 1.0


def test_a_relevant_file_missing_from_the_index_is_never_found_but_counted():
    s = score_query(["a", "b"], {"a", "b", "not indexed: c.jpg"}, k=2)
    assert (s.precision, s.recall, s.ap, s.rr) == (1.0, pytest.approx(2 / 3), pytest.approx(2 / 3), 1.0)
    assert s.ndcg == 1.0  # the ideal top 2 is two relevant results, which it has
    assert s.curve[-1] == 0.0  # full recall is never reached


def test_nothing_relevant_retrieved_and_everything_retrieved():
    nothing = score_query(["x", "y"], {"a"}, k=2)
    assert (nothing.precision, nothing.recall, nothing.f1, nothing.ap, nothing.rr, nothing.ndcg) == (0,) * 6
    perfect = score_query(["a", "b", "x"], {"a", "b"}, k=2)
    assert (perfect.precision, perfect.recall, perfect.f1, perfect.ap, perfect.rr, perfect.ndcg) == (1,) * 6
    assert set(perfect.curve) == {1.0}


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="twice"):
        score_query(["a", "a"], {"a"}, k=1)
    with pytest.raises(ValueError, match="k must"):
        score_query(["a"], {"a"}, k=0)


def test_means_are_per_metric_and_per_curve_point():
    a, b = score_query(["a"], {"a"}, k=1), score_query(["x", "b"], {"b"}, k=1)
    mean = mean_scores([a, b])
    assert (mean.precision, mean.rr, mean.ap) == (0.5, 0.75, 0.75)
    assert mean.curve == pytest.approx([0.75] * len(RECALL_LEVELS))


def _random_case(rng: random.Random):
    """A query's judgments and a ranking over a small pool, often with relevant items not retrieved."""
    pool = [f"d{n:03d}" for n in range(rng.randint(5, 60))]
    relevant = set(rng.sample(pool, rng.randint(1, min(15, len(pool)))))
    ranked = rng.sample(pool, rng.randint(0, len(pool)))
    return relevant, ranked


def _trec_eval_rounds_this_level(step: int, relevant: int) -> bool:
    """trec_eval counts the relevant items recall step/10 needs as int(0.step * relevant + 0.9), in floating
    point: 0.7 * 3 + 0.9 gives 2.9999999999999996, so it asks for 2 items where recall 0.7 of 3 needs 3.
    At such levels it departs from its own definition (and ours, ceil(step * relevant / 10)); skip them."""
    return int(RECALL_LEVELS[step] * relevant + 0.9) != max(-(-step * relevant // 10), 0)


@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_agrees_with_trec_eval_on_random_rankings(k):
    rng = random.Random(k)
    cases = {f"q{n}": _random_case(rng) for n in range(300)}
    qrels = {qid: {doc: 1 for doc in relevant} | {"unjudged-doc": 0} for qid, (relevant, _) in cases.items()}
    # Distinct, falling scores: trec_eval sorts by score, so it sees the ranking as given.
    run = {qid: {doc: float(len(ranked) - i) for i, doc in enumerate(ranked)} or {"nothing": 0.0}
           for qid, (_, ranked) in cases.items()}
    levels = [f"iprec_at_recall_{level:.2f}" for level in RECALL_LEVELS]
    measures = {f"P_{k}", f"recall_{k}", "map", "recip_rank", f"ndcg_cut_{k}", "iprec_at_recall"}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    ours, compared = {}, 0
    for qid, (relevant, ranked) in cases.items():
        s = ours[qid] = score_query(ranked, relevant, k)
        o = oracle[qid]
        expected_f1 = 2 * o[f"P_{k}"] * o[f"recall_{k}"] / (o[f"P_{k}"] + o[f"recall_{k}"]) if o[f"P_{k}"] else 0.0
        for name, value, want in [("P", s.precision, o[f"P_{k}"]), ("R", s.recall, o[f"recall_{k}"]),
                                  ("F1", s.f1, expected_f1), ("AP", s.ap, o["map"]), ("RR", s.rr, o["recip_rank"]),
                                  ("nDCG", s.ndcg, o[f"ndcg_cut_{k}"])]:
            assert abs(value - want) <= 1e-9, (qid, name, value, want)
        for step, (mine, level) in enumerate(zip(s.curve, levels)):
            if _trec_eval_rounds_this_level(step, len(relevant)):
                continue
            assert abs(mine - o[level]) <= 1e-9, (qid, level, mine, o[level])
            compared += 1
    assert compared > 0.9 * len(cases) * len(levels)
    mean = mean_scores(list(ours.values()))
    assert abs(mean.ap - sum(o["map"] for o in oracle.values()) / len(oracle)) <= 1e-9  # mAP
    assert abs(mean.rr - sum(o["recip_rank"] for o in oracle.values()) / len(oracle)) <= 1e-9  # MRR


def test_agrees_with_trec_eval_when_scores_tie():
    # trec_eval breaks ties by document id, descending; handed a list in that order, we must agree.
    qrels = {"q": {"a": 1, "c": 1, "e": 1}}
    scores = {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.9, "e": 0.1}
    ranked = sorted(scores, key=lambda doc: (-scores[doc], [-ord(ch) for ch in doc]))
    assert ranked == ["d", "c", "b", "a", "e"]
    measures = {"P_3", "map", "recip_rank", "ndcg_cut_3"}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate({"q": scores})["q"]
    s = score_query(ranked, qrels["q"], k=3)
    assert abs(s.precision - oracle["P_3"]) <= 1e-9 and abs(s.ap - oracle["map"]) <= 1e-9
    assert abs(s.rr - oracle["recip_rank"]) <= 1e-9 and abs(s.ndcg - oracle["ndcg_cut_3"]) <= 1e-9
