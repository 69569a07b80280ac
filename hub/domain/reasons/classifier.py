"""A buyer's free-text return reason → a leaf of the taxonomy, with a confidence.

Text in simplified or traditional Chinese, English or a mix is normalised first
(``normalise``: full-width → half-width by NFKC, traditional → simplified by OpenCC,
lowercase, one space between words); that normal form is also the key of a merchant's
corrections. Then, in order:

1. ``corrections`` (normal form → code, what merchants chose before): an exact match
   wins, confidence 1.
2. The model: TF-IDF over character 1–3-grams plus jieba word 1–2-grams, a linear SVM
   whose scores become probabilities by temperature scaling fitted out of fold. It is
   trained on ``data/train.jsonl`` the first time it is needed (no pickles: the data is
   the artefact; under half a second, after a second importing scikit-learn) and kept
   for the process; threads share it.
3. Keyword rules (``RULES``, high-precision phrases, first match, not after a negation
   like 不是/没): a hit is worth its precision measured on the training data, so it
   overrides the model only where the model is less sure, and agrees with it otherwise.

``evaluate(path)`` scores the whole chain on a JSONL file (``bench/reasons.py`` prints
it for ``data/heldout.jsonl``).
"""
from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import threading
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

from hub.domain.reasons import taxonomy

DATA_DIR = Path(__file__).resolve().parent / "data"
TRAIN_PATH = DATA_DIR / "train.jsonl"
HELDOUT_PATH = DATA_DIR / "heldout.jsonl"
MAX_CHARS = 1000
MIN_WORD_FREQ = 20
Source = Literal["correction", "keyword", "model", "empty"]

# First match wins, so the narrower phrase goes first ("拍错尺码" is a mistake, not a size).
RULES: tuple[tuple[str, str], ...] = (
    (r"价保|保价|价格保护|price protection|price guarantee", "pricing.price_protection"),
    (r"差价|price difference", "pricing.price_difference"),
    (r"运费|邮费|shipping fee|postage", "pricing.shipping_fee"),
    (r"优惠券|折扣码|满减|coupon|promo code|voucher", "pricing.promotion_not_applied"),
    (r"重复扣款|扣了两次|扣了两笔|charged twice|double charged", "pricing.overcharged"),
    (r"假货|假冒|仿冒|高仿|山寨|不是正品|非正品|counterfeit|knockoff", "quality.counterfeit"),
    (r"(?<!券)过期|临期|保质期|expired|expiry", "quality.expired"),
    (r"过敏|allergic|\brash\b", "quality.allergy"),
    (r"描述不符|与描述|色差|货不对板|not as described", "quality.not_as_described"),
    (r"虚假发货|假单号|单号无效|fake tracking|tracking number is invalid",
     "fulfilment.fake_shipment"),
    (r"发错|错发|寄错|sent (me )?the wrong", "fulfilment.wrong_item"),
    (r"少发|漏发|少件|缺件|少寄|空包", "fulfilment.missing_item"),
    (r"还没发货|迟迟不发货|延迟发货|发货太?慢|超时未发货|未按约定时间发货", "fulfilment.late_shipment"),
    (r"缺货|断货|无货|没货|售罄|out of stock|sold out", "fulfilment.out_of_stock"),
    (r"丢件|丢失|遗失|弄丢|lost (my |the )?(package|parcel|shipment)", "shipping.lost"),
    (r"签收.{0,6}没收到|没收到货|未收到货|never arrived", "shipping.not_received"),
    (r"拍错|多拍|拍多|下错单|重复下单|by mistake|accidentally", "buyer.ordered_by_mistake"),
    (r"偏小|偏大|穿不上|穿不下|不合身|doesn't fit", "buyer.size_fit"),
    (r"七天无理由|7天无理由|鉴赏期|changed my mind", "buyer.changed_mind"),
    (r"协商一致|协商好|mutually agreed", "buyer.negotiated"),
    (r"地址(填|写|选)错|改(收货)?地址|wrong (shipping )?address", "buyer.address_change"),
)
_NEGATIONS = ("不是", "没有", "并非", "不", "没", "无", "非", "not ", "no ", "isn't ")


@dataclass(frozen=True)
class Classification:
    code: str
    family: str
    confidence: float
    source: Source


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    count: int
    by_family: dict[str, float]
    misses: tuple[tuple[str, str, str], ...] = field(default=())  # text, expected, got


def normalise(text: str) -> str:
    """The form texts are compared and corrections are keyed in."""
    text = unicodedata.normalize("NFKC", (text or "")[:MAX_CHARS])
    return " ".join(_converter().convert(text).lower().split())


def classify(text: str, corrections: Mapping[str, str] | None = None) -> Classification:
    """What ``text`` most likely means: the merchant's code for the same normalised text,
    else the model's leaf, unless a keyword rule is surer."""
    key = normalise(text)
    if not key:
        return Classification("other", "other", 0.0, "empty")
    chosen = (corrections or {}).get(key)
    if chosen:
        return Classification(chosen, taxonomy.family_of(chosen), 1.0, "correction")
    model = _model()
    probabilities = dict(zip(model.classes, model.pipeline.predict_proba([key])[0]))
    best = max(probabilities, key=probabilities.get)
    code, confidence, source = str(best), float(probabilities[best]), "model"
    hit = _keyword_hit(key)
    if hit is not None:
        weight = model.rule_precision.get(hit, 0.5)
        if hit == best or weight >= confidence:
            code, confidence, source = hit, max(weight, float(probabilities.get(hit, 0))), \
                "keyword"
    return Classification(code, taxonomy.family_of(code), round(confidence, 4), source)


def _keyword_hit(key: str) -> str | None:
    """The code of the first rule matching normalised text, not right after a negation."""
    for pattern, code in _compiled_rules():
        for match in pattern.finditer(key):
            before = key[max(0, match.start() - 6):match.start()]
            if not before.endswith(_NEGATIONS):
                return code
    return None


def evaluate(path: Path | str = HELDOUT_PATH) -> Evaluation:
    """The whole chain (no corrections) on a JSONL file of ``{"text", "code"}``: exact
    leaf accuracy, overall and by the expected code's family, and what it got wrong."""
    rows = _load(path)
    per_family: dict[str, list[int]] = {}
    misses = []
    for row in rows:
        got = classify(row["text"]).code
        per_family.setdefault(taxonomy.family_of(row["code"]), []).append(got == row["code"])
        if got != row["code"]:
            misses.append((row["text"], row["code"], got))
    count = len(rows)
    return Evaluation(accuracy=(count - len(misses)) / count if count else 0.0, count=count,
                      by_family={f: sum(v) / len(v) for f, v in sorted(per_family.items())},
                      misses=tuple(misses))


def _load(path: Path | str) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


# --- the trained model, built once per process --------------------------------------------

@dataclass(frozen=True)
class _Trained:
    pipeline: object
    classes: tuple[str, ...]
    rule_precision: dict[str, float]


_lock = threading.RLock()
_state: dict[str, object] = {}


def _converter():
    if "opencc" not in _state:
        with _lock:
            if "opencc" not in _state:
                import opencc

                _state["opencc"] = opencc.OpenCC("t2s")
    return _state["opencc"]


def _compiled_rules():
    if "rules" not in _state:
        _state["rules"] = tuple((re.compile(p), code) for p, code in RULES)
    return _state["rules"]


def _model() -> _Trained:
    trained = _state.get("model")
    if trained is None:
        with _lock:
            trained = _state.get("model")
            if trained is None:
                trained = _state["model"] = _train(TRAIN_PATH)
    return trained


def _train(path: Path | str) -> _Trained:
    """Fit the model on a JSONL file and measure each rule's precision on it."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    rows = _load(path)
    texts = [normalise(r["text"]) for r in rows]
    codes = [r["code"] for r in rows]
    features = make_union(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
        TfidfVectorizer(tokenizer=_words, token_pattern=None, lowercase=False,
                        ngram_range=(1, 2), sublinear_tf=True))
    # a linear SVM's scores made probabilities by one temperature fitted out of fold
    model = CalibratedClassifierCV(LinearSVC(C=1.0), cv=3, method="temperature", ensemble=False)
    pipeline = make_pipeline(features, model)
    pipeline.fit(texts, codes)
    fired, right = Counter(), Counter()
    for text, code in zip(texts, codes):
        hit = _keyword_hit(text)
        if hit is not None:
            fired[hit] += 1
            right[hit] += hit == code
    precision = {code: (right[code] + 1) / (fired[code] + 2) for code in fired}
    return _Trained(pipeline, tuple(str(c) for c in pipeline.classes_), precision)


_WORD = re.compile(r"\w", re.UNICODE)


def _words(text: str) -> list[str]:
    """jieba's words of normalised text, spaces and punctuation left out."""
    return [w for w in _tokenizer().lcut(text) if _WORD.search(w)]


def _tokenizer():
    """jieba with the words of its dictionary seen at least ``MIN_WORD_FREQ`` times in its
    corpus (80 thousand of 350): a fifth of the load time, the same words for reasons;
    rarer words are left to jieba's HMM."""
    tokenizer = _state.get("jieba")
    if tokenizer is None:
        with warnings.catch_warnings():
            # jieba 0.42 (its last release) has regexes with invalid escapes, warned about
            # when its source is compiled, and imports pkg_resources, which setuptools
            # deprecates
            for category in (DeprecationWarning, SyntaxWarning, UserWarning):
                warnings.filterwarnings("ignore", "invalid escape sequence|pkg_resources",
                                        category)
            import jieba
        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.tmp_dir = tempfile.gettempdir()  # any dictionary cache: never the repo
        with open(Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME), "rb") as full:
            common = b"".join(line for line in full
                              if int(line.split(b" ", 2)[1]) >= MIN_WORD_FREQ)
        tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(io.BytesIO(common))
        tokenizer.initialized = True
        _state["jieba"] = tokenizer
    return tokenizer
