"""The 16 metrics: golden cases, parity with the reference libraries, worst-case policies, Δ and bootstrap."""

import json
import math
import random
import time
import warnings

import numpy as np
import pytest

from imax_hub.errors import ImaxError
from imax_hub.metrics import METRICS, score
from imax_hub.tasks import registry
from imax_hub.metrics import families, text
from imax_hub.tasks.normalize import normalize_answer
from imax_hub.metrics.runs import check_comparable, compare, delta, relative_gain, to_results
from imax_hub.tasks.answers import parse_answer_list, parse_box, parse_grade, parse_label_vector, parse_number

WORDS = "heart lung normal size effusion pleural no acute process the a left right mild opacity . , ; ( )".split()


def _sentence(rng, lo=0, hi=30):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


# --- normalisation and parsers -------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("The left lung.", "left lung"),
    ("Two effusions, one large", "2 effusions 1 large"),
    ("x-ray", "x ray"),
    ("3,000 cells", "3000 cells"),  # a digit comma: punctuation is removed, not spaced
    ("dont know", "don't know"),
    ("  An  ALVEOLAR edema!", "alveolar edema"),
    ("", ""),
])
def test_normalize_answer_golden(raw, expected):
    assert normalize_answer(raw) == expected


def test_parsers_accept_the_formats_models_write():
    assert parse_box("<12><34><560><780>") == [12, 34, 560, 780]
    assert parse_box("The heart is at {<12><34><560><780>}.") == [12, 34, 560, 780]
    assert parse_box("< 12 >, <34>,<560> , < 780 >") == [12, 34, 560, 780]
    assert parse_box("<12><34><560>") is None
    assert parse_number("CTR = 0.4940") == 0.494 and parse_number("no value") is None
    assert parse_label_vector("1,0,0,1,0,0,0,0,0,0") == [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert parse_label_vector("1, 0, 0, 1, 0, 0, 0, 0, 0, 0 ") is not None
    assert parse_label_vector("1,0,0,1,0,0,0,0,0") is None and parse_label_vector("1,0,0,1,0,0,0,0,0,2") is None
    assert parse_grade("Interstitial  Edema") == 2 and parse_grade("edema") is None
    assert parse_answer_list("left lung, right lung") == ["left lung", "right lung"]


def test_parsers_never_raise_on_junk_and_stay_linear_on_huge_outputs():
    rng = random.Random(0)
    alphabet = "<>{},.0123456789 \n\t-eE+abc[]|"
    parsers = (parse_box, parse_number, parse_label_vector, parse_grade, parse_answer_list, normalize_answer)
    for _ in range(10_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for p in parsers:
            p(s)
    for huge in ("<1>" + " " * 10_000_000, "<" * 10_000_000, "1," * 5_000_000, "é" * 10_000_000):
        t0 = time.perf_counter()
        for p in parsers:
            p(huge)
        assert time.perf_counter() - t0 < 20, huge[:5]


# --- families: golden values -------------------------------------------------------------------------

def _items(task: str, statistic: str, preds: list[str], targets: list[dict]):
    """(per-item statistics, parsed) of one task's metric family, as score() computes them."""
    spec = registry.get(task)
    rows = [{"target": t, "answer": ""} for t in targets]
    stats, _ = families.FAMILIES[spec.scorer][statistic].compute(preds, rows, spec)
    return stats, np.array([spec.parse(p, t) is not None for p, t in zip(preds, targets)])


def _golds(statistic: str, preds: list[str], golds: list[str]):
    spec = registry.get("vqa")
    rows = [{"target": {}, "answer": g} for g in golds]
    stats, _ = families.FAMILIES[spec.scorer][statistic].compute(preds, rows, spec)
    return stats, np.array([spec.parse(p, {}) is not None for p in preds])


def test_calculation_golden_and_worst_case_policy():
    stats, parsed = _items("calculation", "mae", ["0.5000", "junk", "1.7"], [{"value": 0.4}, {"value": 0.3}, {"value": 0.8}])
    assert parsed.tolist() == [True, False, False]
    # junk -> far end 1.0 (gold 0.3): 0.7; 1.7 is outside [0, 1] -> far end 0.0 (gold 0.8): 0.8
    assert stats[:, 0] == pytest.approx([0.1, 0.7, 0.8])
    mae = 100 * stats[:, 0].mean()
    rmse = 100 * math.sqrt(stats[:, 1].mean())
    assert mae == pytest.approx(53.3333333) and rmse == pytest.approx(61.6441400)


def test_iou_and_recall_at_half():
    assert families.box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    stats, parsed = _items("rec", "iou", ["<0><0><10><5>", "<0><0><10><10>", "<5><5><5><9>", "none"],
                                 [{"box_grid": [0, 0, 10, 10]}] * 4)
    assert stats[:, 0].tolist() == [0.5, 1.0, 0.0, 0.0]
    assert stats[:, 1].tolist() == [1.0, 1.0, 0.0, 0.0]  # IoU exactly 0.5 counts (>= 0.5)
    assert parsed.tolist() == [True, True, False, False]  # a zero-width box is not a box


def test_verify_uses_containment_as_the_reference_does():
    stats, _ = _golds("acc-contains", ["Not sure.", "Yes.", "maybe"], ["no", "yes", "no"])
    assert stats[:, 0].tolist() == [1.0, 1.0, 0.0]  # "no" is inside "not sure": the reference's rule, kept


def test_multilabel_f1_parity_with_scikit_learn():
    from sklearn.metrics import f1_score

    from imax_hub.metrics import METRICS_BY_KEY

    rng = np.random.default_rng(0)
    gold = (rng.random((300, 10)) < 0.2).astype(int)
    gold[:, 7] = 0  # a label never present: macro-F1 zero-division behaviour
    pred = np.where(rng.random((300, 10)) < 0.8, gold, 1 - gold)
    preds = [",".join(map(str, p)) for p in pred]
    stats, parsed = _items("multilabel", "micro-f1", preds, [{"vector": g.tolist()} for g in gold])
    sums = stats.sum(0)[None, :]
    micro = METRICS_BY_KEY["multilabel_micro_f1"].reduce(sums, np.array([300]))[0]
    macro = METRICS_BY_KEY["multilabel_macro_f1"].reduce(sums, np.array([300]))[0]
    assert micro == pytest.approx(100 * f1_score(gold, pred, average="micro", zero_division=1), abs=1e-9)
    assert macro == pytest.approx(100 * f1_score(gold, pred, average="macro", zero_division=1), abs=1e-9)
    none = np.zeros((5, 10), dtype=int)  # nothing positive anywhere: agreement, as scikit-learn's zero_division=1
    stats, _ = _items("multilabel", "micro-f1", [",".join(["0"] * 10)] * 5, [{"vector": v.tolist()} for v in none])
    for key, avg in (("multilabel_micro_f1", "micro"), ("multilabel_macro_f1", "macro")):
        value = METRICS_BY_KEY[key].reduce(stats.sum(0)[None, :], np.array([5]))[0]
        assert value == 100 * f1_score(none, none, average=avg, zero_division=1) == 100
    stats, parsed = _items("multilabel", "micro-f1", ["garbage"], [{"vector": gold[0].tolist()}])
    assert not parsed[0] and stats[0, 0::3].sum() == 0  # unparsed: every label wrong, no true positive


def test_bleu1_is_pycocoevalcap_corpus_bleu1():
    from pycocoevalcap.bleu.bleu import Bleu

    rng = random.Random(1)
    hyps = [_sentence(rng, 0, 40) for _ in range(1000)]
    refs = [_sentence(rng, 1, 40) for _ in range(1000)]
    ours = text.corpus_bleu1(text.bleu1_stats(hyps, refs))
    theirs = Bleu(4).compute_score({i: [r] for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)},
                                   verbose=0)[0][0]
    assert ours == pytest.approx(theirs, abs=1e-9)
    # hand-computed: 2 of 3 unigrams match, brevity penalty exp(1 - 4/3)
    assert text.corpus_bleu1(text.bleu1_stats(["a b c"], ["a b d e"])) == pytest.approx(2 / 3 * math.exp(-1 / 3))


def test_rouge1_matches_the_rouge_package_and_zeroes_empty_sides():
    from rouge import Rouge

    rng = random.Random(2)
    hyps = [_sentence(rng, 1, 30) for _ in range(300)] + ["", " ... "]
    refs = [_sentence(rng, 1, 30) for _ in range(302)]
    ours = text.rouge1_f(hyps, refs)
    scorer = Rouge(metrics=["rouge-1"])
    for h, r, o in zip(hyps, refs, ours):
        h, r = normalize_answer(h), normalize_answer(r)
        if h.replace(".", "").strip() and r.replace(".", "").strip():
            assert o == pytest.approx(scorer.get_scores(h, r)[0]["rouge-1"]["f"], abs=1e-12)
        else:
            assert o == 0.0
    # hand-computed: "heart is normal" vs "heart size is normal": P = 3/3, R = 3/4
    assert text.rouge1_f(["Heart is normal."], ["The heart size is normal."])[0] == pytest.approx(6 / 7)


def test_vqa_bleu1_matches_nltk():
    from nltk.translate.bleu_score import sentence_bleu

    rng = random.Random(3)
    preds = [_sentence(rng, 1, 6) for _ in range(200)]
    golds = [_sentence(rng, 1, 6) for _ in range(200)]
    stats, _ = _golds("bleu1-sentence", preds, golds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p, g, s in zip(preds, golds, stats[:, 0]):
            hyp = normalize_answer(p).split()
            if hyp:
                assert s == pytest.approx(sentence_bleu([normalize_answer(g).split()], hyp, weights=(1, 0, 0, 0)))


def test_ptb_tokenizer_and_meteor_match_pycocoevalcap():
    from pycocoevalcap.meteor.meteor import Meteor as PycocoMeteor
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    rng = random.Random(4)
    texts = [_sentence(rng, 1, 25).capitalize() + "." for _ in range(40)] + ["Line one.\nLine two (left)."]
    theirs = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(texts)})
    assert text.ptb_tokenize(texts) == [theirs[i][0] for i in range(len(texts))]
    # empty texts keep their place (pycocoevalcap itself drops trailing ones)
    assert text.ptb_tokenize(["", "Heart normal.", ""]) == ["", "heart normal", ""]

    hyps, refs = text.ptb_tokenize(texts[:20]), text.ptb_tokenize(texts[20:40])
    hyps[:5] = refs[:5]  # perfect matches: the jar aggregates their single chunk differently
    ours = text.Meteor()
    try:
        stats = ours.stats(hyps, refs)
        value = ours.corpus(stats)
        raw = np.array([[float(x) for x in s.split()] for s in stats])
        # a weighted sum of the aggregable statistics is a resample with repeats
        for _ in range(3):
            counts = np.array([rng.randint(0, 3) for _ in stats])
            summed = counts @ text.meteor_aggregable(raw)
            assert ours.aggregate(summed[None, :])[0] == pytest.approx(ours.corpus(stats, counts), abs=1e-12)
        perfect = raw[:5].sum(0)[None, :]
        assert ours.aggregate(perfect)[0] < 0.9  # raw lines summed: the bug this guards against
        assert ours.aggregate(text.meteor_aggregable(raw[:5]).sum(0)[None, :])[0] == pytest.approx(1.0)
        assert ours.corpus(stats[:5]) == pytest.approx(1.0)
    finally:
        ours.close()
    theirs_value, _ = PycocoMeteor().compute_score({i: [r] for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)})
    assert value == pytest.approx(theirs_value, abs=1e-12)


def test_one_meteor_jar_per_process_and_a_fresh_one_after_a_cut_conversation():
    first = text.shared_meteor()
    line = first.stats(["heart size is normal"], ["heart size is normal"])
    assert text.shared_meteor() is first  # reused, so its paraphrase tables load once per process
    with pytest.raises(KeyboardInterrupt):
        with first._conversation():
            first.proc.stdin.write(b"SCORE ||| a ||| b\n")  # asked, never read: the pipe is out of step
            raise KeyboardInterrupt
    assert not first.alive
    second = text.shared_meteor()
    assert second is not first and second.stats(["heart size is normal"], ["heart size is normal"]) == line


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(text.shutil, "which", lambda name: None)
    with pytest.raises(ImaxError, match="need Java.*never silently substitutes nltk"):
        text.Meteor()


# --- whole runs ----------------------------------------------------------------------------------------

def _rows():
    """A small test set with every task and subtask, targets as the build writes them."""
    rows = []

    def add(task, subtask, answer, target):
        rows.append({"id": f"{len(rows):04d}/{task}", "task": task, "subtask": subtask, "answer": answer,
                     "target": json.dumps(target)})

    for v in (0.41, 0.55, 0.62):
        add("calculation", "ctr", f"{v:.4f}", {"measure": "ctr", "value": v})
        add("calculation", "cpar", f"{v / 2:.4f}", {"measure": "cpar", "value": round(v / 2, 4)})
    for t in ("The heart is normal in size. No effusion.", "Mild cardiomegaly. Small left pleural effusion."):
        add("report", "findings_impression", t, {"text": t})
    for g, name in ((0, "none"), (2, "interstitial edema")):
        add("multiclass", "edema_severity", name, {"grade": g, "name": name})
    # every label present at least once (a label absent from gold and prediction would score 1 in macro-F1:
    # scikit-learn's zero_division=1, recorded in the signature)
    for vec in ([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]):
        add("multilabel", "findings10", ",".join(map(str, vec)), {"vector": vec})
    add("rec", "heart", "<300><400><700><800>", {"box_grid": [300, 400, 700, 800]})
    add("reg", "left_lung", "left lung", {"structure": "left lung"})
    add("vqa", "verify", "yes", {"answer": ["yes"]})
    add("vqa", "choose", "pleural effusion", {"answer": ["pleural effusion"]})
    add("vqa", "query", "left lung, right lung", {"answer": ["left lung", "right lung"]})
    return sorted(rows, key=lambda r: r["id"])


def test_a_perfect_run_scores_perfectly_on_all_16_metrics():
    rows = _rows()
    s = score(rows, {r["id"]: r["answer"] for r in rows})
    assert len(s.metrics) == 16 and sum(s.parse_failures.values()) == 0
    for spec in METRICS:
        v = s.metrics[spec.key].value
        if spec.higher_is_better:
            assert v == pytest.approx(100, abs=0.1 if spec.key == "report_meteor" else 1e-6), spec.key
        else:
            assert v == pytest.approx(0, abs=1e-9), spec.key


@pytest.mark.parametrize("junk", ["", "   \n\t ", "日本語のテキスト 🙂", "x" * 10_000_000])
def test_empty_unicode_and_enormous_predictions_score_as_worst_case(junk):
    rows = [r for r in _rows() if r["task"] != "report"] if len(junk) > 1000 else _rows()
    s = score(rows, {r["id"]: junk for r in rows})
    for spec in METRICS:
        if spec.key in s.metrics and spec.higher_is_better:
            assert s.metrics[spec.key].value == pytest.approx(0, abs=1e-6), spec.key
    assert s.parse_failures["rec"] == 1 and s.parse_failures["multilabel"] == 3
    assert s.metrics["ctr_mae"].value > 40  # far end of [0, 1]


def test_missing_or_extra_predictions_are_refused():
    rows = _rows()
    preds = {r["id"]: r["answer"] for r in rows}
    first = rows[0]["id"]
    with pytest.raises(ImaxError, match="have no prediction"):
        score(rows, {k: v for k, v in preds.items() if k != first})
    with pytest.raises(ImaxError, match="not in the test set"):
        score(rows, {**preds, "nope": "x"})


def test_results_hold_numbers_only():
    rows = _rows()
    doc = to_results(score(rows, {r["id"]: r["answer"] for r in rows}), name="perfect")
    blob = json.dumps(doc)
    for r in rows:
        assert r["id"] not in blob
        if len(r["answer"]) > 4:
            assert r["answer"] not in blob


# --- Δ, improved count, bootstrap, comparability ------------------------------------------------------

TABLE2_DMAX = [6.93, 8.22, 3.67, 4.96, 33.25, 40.34, 15.18, 26.97, 73.62, 47.84, 50.89, 63.95, 64.13, 62.75, 40.69, 39.06]
TABLE2_IMAX = [3.31, 4.76, 2.52, 3.65, 34.32, 40.06, 16.15, 47.14, 80.67, 63.71, 71.38, 87.98, 87.00, 71.02, 50.50, 53.20]
PAPER_ORDER = ["cpar_mae", "cpar_rmse", "ctr_mae", "ctr_rmse", "report_bleu1", "report_rouge1", "report_meteor",
               "multiclass_acc", "multilabel_micro_f1", "multilabel_macro_f1", "rec_iou", "rec_r50", "reg_acc",
               "vqa_verify_acc", "vqa_choose_bleu1", "vqa_query_bleu1"]


def test_delta_reproduces_the_paper_table_2():
    d, improved, counted = delta(dict(zip(PAPER_ORDER, TABLE2_DMAX)), dict(zip(PAPER_ORDER, TABLE2_IMAX)))
    assert counted == 16 and improved == 15  # ROUGE-1 went from 40.34 to 40.06
    assert d == pytest.approx(29.07, abs=0.05)  # the paper's 29.07% from its rounded table values


def test_delta_sign_conventions():
    assert relative_gain("ctr_mae", 4.0, 2.0) == pytest.approx(0.5)  # error halved: +50%
    assert relative_gain("reg_acc", 50.0, 75.0) == pytest.approx(0.5)
    assert relative_gain("reg_acc", 50.0, 25.0) == pytest.approx(-0.5)
    assert math.isnan(relative_gain("reg_acc", 0.0, 10.0))
    assert math.isnan(relative_gain("report_bleu1", 1e-30, 1e-22))  # shows as 0.00: no ratio, not +10^10 %
    assert relative_gain("report_bleu1", 0.01, 0.02) == pytest.approx(1.0)


def _doc(rows, preds, name):
    return to_results(score(rows, preds, meteor=False), name=name)


def test_bootstrap_is_deterministic_and_paired():
    rows = _rows() * 1
    rng = random.Random(5)
    good = {r["id"]: r["answer"] for r in rows}
    worse = {k: (v if rng.random() < 0.5 else "wrong") for k, v in good.items()}
    a, b = _doc(rows, worse, "a"), _doc(rows, good, "b")
    r1 = compare([a, b], n_boot=200, seed=7)
    r2 = compare([a, b], n_boot=200, seed=7)
    assert r1 == r2
    r3 = compare([a, b], n_boot=200, seed=8)
    assert r3["runs"][1]["delta_ci95"] != r1["runs"][1]["delta_ci95"]
    same = compare([a, _doc(rows, worse, "a2")], n_boot=100, seed=0)
    for d in same["runs"][1]["differences"].values():
        assert d["diff"] == 0 and d["ci95"] == [0.0, 0.0]  # identical runs: every paired difference is 0
    assert same["runs"][1]["delta"] == 0


def test_compare_refuses_runs_that_are_not_comparable():
    rows = _rows()
    a = _doc(rows, {r["id"]: r["answer"] for r in rows}, "a")
    b = _doc(rows[1:], {r["id"]: r["answer"] for r in rows[1:]}, "b")
    with pytest.raises(ImaxError, match="different test set"):
        check_comparable([a, b], ["a.json", "b.json"])
    c = json.loads(json.dumps(a))
    c["metrics"]["reg_acc"]["signature"] = "acc|other"
    with pytest.raises(ImaxError, match="metric reg_acc was computed differently"):
        check_comparable([a, c], ["a.json", "c.json"])


def test_accuracy_and_vqa_bleu1_golden():
    stats, parsed = _items("multiclass", "acc", ["Interstitial edema.", "edema", "none"],
                                        [{"grade": 2}, {"grade": 2}, {"grade": 3}])
    assert stats[:, 0].tolist() == [1.0, 0.0, 0.0] and parsed.tolist() == [True, False, True]
    stats, parsed = _items("reg", "acc", ["The left lung", "lung", "right lung"],
                                 [{"structure": "left lung"}, {"structure": "left lung"}, {"structure": "heart"}])
    assert stats[:, 0].tolist() == [1.0, 0.0, 0.0] and parsed.tolist() == [True, False, True]
    # "left lung" vs gold "left lung, right lung" -> "left lung right lung": 2 of 2 unigrams match,
    # brevity penalty exp(1 - 4/2)
    stats, _ = _golds("bleu1-sentence", ["left lung"], ["left lung, right lung"])
    assert stats[0, 0] == pytest.approx(math.exp(-1))


def test_truncated_or_foreign_input_files_name_the_file_and_line(tmp_path):
    from imax_hub.metrics.runs import load_results, load_test_rows, read_predictions

    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "a", "prediction": "yes"}\n{"id": "b", "predic')  # cut off mid-line
    with pytest.raises(ImaxError, match=r"p.jsonl, line 2: not valid JSON"):
        read_predictions(preds)
    preds.write_text('{"id": "a", "prediction": "yes"}\n{"id": "a", "prediction": "no"}\n')
    with pytest.raises(ImaxError, match="line 2: a second prediction"):
        read_predictions(preds)
    other = tmp_path / "other.json"
    other.write_text('{"results": {}}')
    with pytest.raises(ImaxError, match="not an imax results file"):
        load_results(other)
    other.write_text('{"format": "imax-hub/scores/1", "trunc')
    with pytest.raises(ImaxError, match="cannot read a results file"):
        load_results(other)
    with pytest.raises(ImaxError, match="must be a folder written by `imax build`"):
        load_test_rows(tmp_path)


def test_line_breaks_inside_one_prediction_do_not_shift_the_other_items():
    """The PTB tokenizer reads one text per line and ends lines at more than \\n: none of them may leak."""
    hyps = ["the heart is normal", "no pleural effusion", "mild edema"]
    refs = ["heart size is normal", "no effusion", "mild pulmonary edema"]
    clean = text.ptb_tokenize(hyps + refs)
    for brk in ("\u2028", "\u2029", "\x0b", "\x0c", "\x85", "\r", "\x1c"):
        broken = text.ptb_tokenize([hyps[0].replace(" is ", f" is{brk}")] + hyps[1:] + refs)
        assert broken[1:] == clean[1:], repr(brk)
        assert broken[0].split() == clean[0].split()


def test_radar_applies_the_delta_rule_clamps_and_keeps_absolute_values(tmp_path):
    import math

    from imax_hub.metrics.runs import RADAR_CLAMP, radar_chart, radar_data

    metrics = [{"key": "report_bleu1", "label": "Report BLEU-1", "higher_is_better": True},
               {"key": "rec_iou", "label": "REC IoU", "higher_is_better": True},
               {"key": "ctr_mae", "label": "CTR MAE", "higher_is_better": False},
               {"key": "reg_acc", "label": "REG ACC", "higher_is_better": True}]
    result = {"baseline": "dmax", "metrics": metrics, "runs": [
        {"name": "dmax", "values": {"report_bleu1": 1e-8, "rec_iou": 20.0, "ctr_mae": 8.0, "reg_acc": 40.0}},
        {"name": "imax", "values": {"report_bleu1": 12.0, "rec_iou": 90.0, "ctr_mae": 4.0, "reg_acc": 30.0}}]}
    data = radar_data(result)
    assert data["absent"] == ["report_bleu1"] and data["labels"][0] == "Report BLEU-1 (n/a)"
    imax = data["runs"][1]
    assert math.isnan(imax["radii"][0])  # a baseline at 0.00 has no ratio: not a 1e9 spike
    assert imax["radii"][1] == RADAR_CLAMP and imax["clamped"][1]  # 4.5x, drawn at the edge
    assert imax["radii"][2] == 2.0 and imax["radii"][3] == 0.75  # errors: baseline / value, outward = better
    assert imax["values"] == [12.0, 90.0, 4.0, 30.0]  # the absolute values written at the points
    assert data["runs"][0]["radii"][1:] == [1.0, 1.0, 1.0]
    radar_chart(result, tmp_path / "radar.png")
    assert (tmp_path / "radar.png").read_bytes()[:4] == b"\x89PNG"
