"""Report-generation metrics at paper parity: BLEU-1 and METEOR 1.5 on PTB-tokenised text (pycocoevalcap's
Stanford PTBTokenizer and METEOR jar, as Uni-Med used them) and ROUGE-1 F from the ``rouge`` package.

BLEU-1 is computed from per-report sufficient statistics with pycocoevalcap's own corpus formula
(``tests/test_metrics.py`` proves the identity to 1e-9), so bootstrap resamples need no re-tokenising.
METEOR is corpus-level: each report's statistics line from the jar is kept and resamples are re-scored
by the jar's own aggregation (``EVAL``), never by nltk's different METEOR.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np

from imax_hub.errors import ImaxError
from imax_hub.tasks.normalize import normalize_answer

_TINY, _SMALL = 1e-15, 1e-9  # pycocoevalcap BleuScorer's guards
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
PTB_SIGNATURE = "ptb-corenlp-3.4.1-lc"  # the jar below, run with -lowerCase
PTB_PUNCTUATION = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"}


def _pycoco_dir() -> Path:
    import pycocoevalcap.meteor.meteor as pycoco_meteor  # the packages have no __init__ (no __file__)

    return Path(pycoco_meteor.__file__).resolve().parent.parent


def require_java() -> str:
    """Path of ``java``, or a clear error: METEOR 1.5 and the PTB tokenizer are Java programs."""
    java = shutil.which("java")
    if java is None:
        raise ImaxError("report metrics need Java (JRE 8 or newer) on PATH: METEOR 1.5 and the Stanford PTB "
                        "tokenizer are the jars pycocoevalcap ships. Install one (e.g. `apt install default-jre`); "
                        "imax never silently substitutes nltk's METEOR, whose scores differ.")
    return java


def ptb_tokenize(texts: list[str]) -> list[str]:
    """pycocoevalcap's PTBTokenizer (lower-cased, punctuation tokens removed), one call for all texts."""
    java = require_java()
    jar = _pycoco_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    # the tokenizer reads one text per line: any line break inside a text would shift every later line, and it
    # treats more characters than \n as line ends (\r, \x0b, \x0c, \x1c-\x1e, \x85, U+2028, U+2029)
    lines = "\n".join(_LINE_BREAKS.sub(" ", t) for t in texts)
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as fh:
        fh.write(lines.encode())
        path = fh.name
    try:
        proc = subprocess.run([java, "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines",
                               "-lowerCase", path], capture_output=True, check=False)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise ImaxError(f"the PTB tokenizer failed: {proc.stderr.decode(errors='replace')[-500:]}")
    out = proc.stdout.decode().split("\n")
    tokens = [" ".join(w for w in line.rstrip().split(" ") if w not in PTB_PUNCTUATION) for line in out[: len(texts)]]
    tokens += [""] * (len(texts) - len(tokens))  # trailing empty texts produce no output lines
    return tokens


def bleu1_stats(hypotheses: list[str], references: list[str]) -> np.ndarray:
    """Per-pair (testlen, reflen, guess, correct) of unigram BLEU on whitespace tokens (one reference each)."""
    stats = np.zeros((len(hypotheses), 4), dtype=np.float64)
    for i, (hyp, ref) in enumerate(zip(hypotheses, references)):
        h, r = hyp.split(), ref.split()
        rc = Counter(r)
        correct = sum(min(c, rc.get(w, 0)) for w, c in Counter(h).items())
        stats[i] = (len(h), len(r), len(h), correct)
    return stats


def bleu1_from_sums(sums: np.ndarray) -> np.ndarray:
    """pycocoevalcap's corpus BLEU-1 ("closest" reference length; one reference per item) for each row of
    summed (testlen, reflen, guess, correct) statistics."""
    testlen, reflen, guess, correct = sums.T
    bleu = (correct + _TINY) / (guess + _SMALL)
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    penalty = np.exp(1 - 1 / np.minimum(ratio, 1.0))  # 1 when the hypotheses are not shorter
    return bleu * penalty


def corpus_bleu1(stats: np.ndarray) -> float:
    """Corpus BLEU-1 of per-item statistics (see :func:`bleu1_from_sums`)."""
    return float(bleu1_from_sums(stats.sum(axis=0)[None, :])[0])


def rouge1_f(hypotheses: list[str], references: list[str]) -> np.ndarray:
    """Per-pair ROUGE-1 F of the ``rouge`` package on normalised text; 0 where either side is empty."""
    from rouge import Rouge

    scorer = Rouge(metrics=["rouge-1"], stats=["f"])
    out = np.zeros(len(hypotheses))
    for i, (h, r) in enumerate(zip(hypotheses, references)):
        h, r = normalize_answer(h), normalize_answer(r)
        # the package raises on an empty side (after its own sentence split on "."); that is a zero, not a skip
        if h.replace(".", "").strip() and r.replace(".", "").strip():
            out[i] = scorer.get_scores(h, r)[0]["rouge-1"]["f"]
    return out


def meteor_aggregable(stats: np.ndarray) -> np.ndarray:
    """Per-item METEOR statistics whose plain sum is the jar's corpus aggregate.

    The jar's ``MeteorStats.addStats`` skips the single chunk of a perfect match (every word of both
    sides matched in one chunk), so a corpus of perfect matches has no fragmentation penalty; summing the
    raw lines would count those chunks and score an all-perfect corpus about 0.56 instead of 1.
    Columns: 0/1 test/reference length, 4..19 the four stages' (test, reference) content and function
    matches, 20 chunks.
    """
    stats = np.array(stats, dtype=np.float64, copy=True)
    if stats.size == 0:
        return stats
    test_matches = stats[:, 4:20:4].sum(1) + stats[:, 6:20:4].sum(1)
    ref_matches = stats[:, 5:20:4].sum(1) + stats[:, 7:20:4].sum(1)
    perfect = (test_matches == stats[:, 0]) & (ref_matches == stats[:, 1]) & (stats[:, 20] == 1.0)
    stats[perfect, 20] = 0.0
    return stats


class Meteor:
    """METEOR 1.5 through pycocoevalcap's jar and command line, keeping per-item statistics.

    One conversation at a time: a lock serialises callers, so threads may share one jar."""

    def __init__(self):
        java = require_java()
        folder = _pycoco_dir() / "meteor"
        self.proc = subprocess.Popen([java, "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"],
                                     cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @contextlib.contextmanager
    def _conversation(self):
        """One request and its whole answer; a request cut short (an error, Ctrl-C) leaves unread lines in the
        pipe, so the jar is closed and the next caller of :func:`shared_meteor` starts a fresh one."""
        with self._lock:
            try:
                yield
            except BaseException:
                self.close()
                raise

    def _ask(self, line: str) -> str:
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.proc.stdout.readline().decode().strip()

    def stats(self, hypotheses: list[str], references: list[str]) -> list[str]:
        """One statistics line per pair (the jar's SCORE output), as pycocoevalcap's ``_stat`` asks for it."""
        out = []
        with self._conversation():
            for h, r in zip(hypotheses, references):
                h = h.replace("|||", "").replace("  ", " ")
                out.append(self._ask(f"SCORE ||| {r} ||| {h}"))
        return out

    def corpus(self, stats: list[str], counts: np.ndarray | None = None) -> float:
        """The jar's corpus score of the given statistics (each repeated ``counts[i]`` times)."""
        if counts is None:
            chosen = stats
        else:
            chosen = [s for s, c in zip(stats, counts) for _ in range(int(c))]
        if not chosen:
            return float("nan")
        with self._conversation():
            self.proc.stdin.write(("EVAL ||| " + " ||| ".join(chosen) + "\n").encode())
            self.proc.stdin.flush()
            for _ in chosen:  # per-item scores first, then the corpus score
                self.proc.stdout.readline()
            return float(self.proc.stdout.readline().strip())

    def aggregate(self, sums: np.ndarray) -> list[float]:
        """Corpus scores of summed statistics rows, in one EVAL. The jar aggregates by summing the per-item
        statistics of :func:`meteor_aggregable`, so a weighted sum of those stands for a resample with repeats
        (tested)."""
        lines = [" ".join(repr(float(v)) for v in row) for row in sums]
        if not lines:
            return []
        with self._conversation():
            self.proc.stdin.write(("EVAL ||| " + " ||| ".join(lines) + "\n").encode())
            self.proc.stdin.flush()
            values = [float(self.proc.stdout.readline().strip()) for _ in lines]
            self.proc.stdout.readline()  # the corpus score of all rows together: not wanted
        return values

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait()


_shared_meteor: Meteor | None = None
_shared_lock = threading.Lock()


def shared_meteor() -> Meteor:
    """The process's METEOR jar, started on first use and closed at exit.

    Starting the JVM and loading the jar's paraphrase tables takes about 5 s, and one ``imax eval`` asks for
    METEOR about a dozen times (lighteval's corpus score, the summary, each bootstrap): one jar for all of them
    halves the oracle evaluation of the demo build (benchmarks/RESULTS.md). It holds ~1 GB while the process
    lives."""
    global _shared_meteor
    with _shared_lock:
        if _shared_meteor is None or not _shared_meteor.alive:
            _shared_meteor = Meteor()
            atexit.register(_shared_meteor.close)
        return _shared_meteor


def versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("pycocoevalcap", "rouge", "nltk")}
