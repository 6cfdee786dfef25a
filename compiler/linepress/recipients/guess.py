"""The hint in "is not UTF-8 text": which encoding a list probably is in, never used silently.

charset-normalizer (a well-kept detector) says which of the encodings used in
LINE's markets decode the sample cleanly. On short lists it ranks them poorly:
in our tests it called cp932 Japanese names Korean and GBK Chinese Thai. So the
clean candidates are ranked again by how plausible the decoded text is for its
script (common kanji and kana for cp932, well-formed Thai syllables for cp874,
GB2312 level-1 characters for GBK, Big5 level-1 for Big5). The hint only ever
names the flag to pass: a wrong guess read silently would send mojibake to
thousands of people.
"""

from __future__ import annotations

#: Codecs we suggest (the Excel/Windows code page of each market), and how we name them.
CANDIDATES: dict[str, str] = {
    "cp932": "Shift_JIS (Japanese)",
    "gb18030": "GBK (Simplified Chinese)",
    "cp950": "Big5 (Traditional Chinese)",
    "cp874": "TIS-620 (Thai)",
    "cp1252": "Windows-1252 (Western European)",
}

#: Bytes of the file looked at.
SAMPLE_SIZE = 256 * 1024

#: A candidate this close to the best is named too ("or ...").
_CLOSE = 0.1


def encoding_hint(sample: bytes) -> str | None:
    """`looks like Shift_JIS (Japanese): pass --encoding cp932`, or None when nothing fits."""
    ranked = rank(sample)
    if not ranked or ranked[0][1] < 0.5:
        return None
    best, score = ranked[0]
    text = f"looks like {CANDIDATES[best]}: pass --encoding {best}"
    others = [codec for codec, s in ranked[1:] if s >= score - _CLOSE]
    if others:
        text += "".join(f" (or --encoding {c} if it is {CANDIDATES[c]})" for c in others[:2])
    return text


def rank(sample: bytes) -> list[tuple[str, float]]:
    """Candidate codecs that decode `sample`, best first, each with a plausibility 0..1."""
    sample = sample[:SAMPLE_SIZE]
    clean = _detected(sample)
    scored: list[tuple[str, float]] = []
    for order, codec in enumerate(CANDIDATES):
        if codec not in clean:
            continue
        text = _decode(sample, codec)
        wide = [i for i, ch in enumerate(text) if ord(ch) > 0x7F]
        if not wide:
            continue
        plausible = sum(_plausible(codec, text, i) for i in wide) / len(wide)
        scored.append((codec, plausible - order * 1e-6))  # ties: the order above
    scored.sort(key=lambda item: -item[1])
    return [(codec, round(score, 3)) for codec, score in scored]


def _detected(sample: bytes) -> set[str]:
    """The candidates charset-normalizer finds the sample readable in."""
    from charset_normalizer import from_bytes

    found = set()
    for match in from_bytes(sample, cp_isolation=list(CANDIDATES)):
        name = match.encoding
        found.add("gb18030" if name in ("gbk", "gb2312") else name)
    return found


def _decode(sample: bytes, codec: str) -> str:
    try:
        return sample.decode(codec)
    except UnicodeDecodeError as exc:  # the sample may end inside a character
        return sample[: exc.start].decode(codec, "replace")


def _plausible(codec: str, text: str, i: int) -> bool:
    """Whether text[i] is what a person writing in `codec`'s script commonly types."""
    ch = text[i]
    o = ord(ch)
    if codec == "cp874":
        return _thai(text, i)
    if codec == "cp1252":
        return 0xC0 <= o <= 0xFF or o in (0x20AC, 0x2019, 0x201C, 0x201D, 0x2013)
    if 0x3000 <= o <= 0x303F or 0xFF01 <= o <= 0xFF5E:  # CJK punctuation, full-width forms
        return True
    if codec == "cp932":
        if 0x3041 <= o <= 0x30FE:  # hiragana, katakana (not half-width katakana)
            return True
        return 0x4E00 <= o <= 0x9FFF and 0x88 <= ch.encode("cp932")[0] <= 0x98  # JIS level 1
    if not 0x4E00 <= o <= 0x9FFF:
        return False
    try:
        if codec == "gb18030":
            return 0xB0 <= ch.encode("gb2312")[0] <= 0xD7  # GB2312 level 1
        return 0xA4 <= ch.encode("big5")[0] <= 0xC6  # Big5 frequent characters
    except UnicodeEncodeError:
        return False


def _consonant(ch: str) -> bool:
    return "\u0e01" <= ch <= "\u0e2e"


def _mark(ch: str) -> bool:
    return ch == "\u0e31" or "\u0e34" <= ch <= "\u0e3a" or "\u0e47" <= ch <= "\u0e4e"


def _thai(text: str, i: int) -> bool:
    """Whether text[i] stands where Thai writing puts it (not just any byte read as Thai)."""
    ch = text[i]
    prev = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if _consonant(ch):
        return True
    if _mark(ch):  # above or below a consonant, possibly stacked
        return _consonant(prev) or _mark(prev)
    if "\u0e40" <= ch <= "\u0e44":  # vowels written before their consonant
        return _consonant(after)
    if ch in "\u0e2f\u0e30\u0e32\u0e33\u0e45\u0e46":
        return "\u0e01" <= prev <= "\u0e4e"
    return False
