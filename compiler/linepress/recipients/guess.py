"""The hint in "is not UTF-8 text": which encoding a list probably is in, never used silently.

charset-normalizer (a well-kept detector) says which of the encodings used in
LINE's markets and their neighbours (Japanese Shift_JIS and EUC-JP, Korean, both
Chinese, Thai, Western European) decode the sample cleanly. On short lists it
ranks them poorly: in our tests it called cp932 Japanese names Korean and GBK
Chinese Thai. So the clean candidates are ranked again by how plausible the
decoded text is for its script (kana and JIS level-1 kanji for Japanese, the
2,350 everyday Hangul for Korean, GB2312 level-1 for GBK, Big5's frequent
characters, well-formed Thai syllables), weighted by how much of it is the
language's everyday characters (CJK bytes decoded with a neighbour's codec are
plausible characters, but rarely common ones); Thai and Latin are marked down
when every run of high bytes has even length (two-byte CJK). When others score
close to the best, the hint names them all and says it is unsure. It only ever
names the flag to pass: a wrong guess read silently would send mojibake to
thousands of people. UTF-16 without a byte order mark is told apart before any
of this (`encoding.utf16_order`).
"""

from __future__ import annotations

import re

#: Codecs we suggest (the Excel/Windows code page of each market), and how we name them.
CANDIDATES: dict[str, str] = {
    "cp932": "Shift_JIS (Japanese)",
    "euc_jp": "EUC-JP (Japanese)",
    "cp949": "EUC-KR (Korean)",
    "gb18030": "GBK (Simplified Chinese)",
    "cp950": "Big5 (Traditional Chinese)",
    "cp874": "TIS-620 (Thai)",
    "cp1252": "Windows-1252 (Western European)",
}

#: Characters common in each candidate's language: charset-normalizer's frequency table
#: plus common surnames, given-name characters and place words (lists are mostly names).
#: Text decoded with the wrong CJK codec is plausible characters, but rarely common ones.
_COMMON: dict[str, str] = {
    "cp932": "佐藤鈴木高橋田中伊渡辺山本村小林加吉松井上斎清水森池阪口原石川前岡長谷野崎千葉"
    "子郎太一美花大翔愛結菜真由香奈恵和都府県市区町",
    "cp949": "김이박최정강조윤장임한오서신권황안송류홍전고문손양배백허유남심노하곽성차주우구"
    "민진나지엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편"
    "용예경봉준훈영희철수호혜숙미다의는로을가시를리스일특별광역",
    "gb18030": "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
    "于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚"
    "桂北京市上海广州深圳省区路号",
    "cp950": "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴徐周葉蘇莊呂江何蕭羅高潘簡朱鍾彭游詹"
    "胡施沈余盧梁趙顏柯翁魏孫戴范方宋鄧大文小美建民志明淑芬怡君雅婷家豪台北市區縣路號",
    # Thai: the most frequent letters, vowels and tone marks (any Thai text is mostly these).
    "cp874": "านรอกเงมยลวดทสตะปบคหแจพชขใ่้ัิีุูืึ็์ำไโ",
}
# Half-width katakana: Japanese CRMs and older systems still write names in them.
_COMMON["cp932"] += "".join(map(chr, range(0xFF66, 0xFFA0)))
_COMMON["euc_jp"] = _COMMON["cp932"]

#: Bytes of the file looked at.
SAMPLE_SIZE = 256 * 1024

#: A candidate this close to the best is named too ("or ...").
_CLOSE = 0.2
#: Codecs of one byte per character: the others (CJK) write every character in two.
_SINGLE_BYTE = ("cp874", "cp1252")


def encoding_hint(sample: bytes) -> str | None:
    """`looks like Shift_JIS (Japanese): pass --encoding cp932`, or None when nothing fits.

    When other candidates score close to the best, the hint says it is unsure and names
    them too: one confident wrong answer would be followed. When the sample holds fewer
    than `_ENOUGH` non-ASCII characters (one name of a few letters), nothing can tell the
    encodings apart: the hint names every candidate the bytes decode in, likeliest first.
    """
    ranked = rank(sample)
    fits = _fits(sample)
    # Counted in each encoding the bytes fit: 4 bytes are 4 Thai letters but 2 kanji.
    if fits and min(_evidence(sample, codec) for codec in fits) < _ENOUGH:
        order = [c for c, _ in ranked if c in fits] + [c for c in fits if c not in dict(ranked)]
        named = ", ".join(f"{CANDIDATES[c]} (--encoding {c})" for c in order)
        return (
            "has too few non-ASCII characters to tell its encoding: the bytes read as text "
            f"in each of {named}; check the names in a preview with the one you pass"
        )
    if not ranked or ranked[0][1] < 0.4:
        return None
    best, score = ranked[0]
    others = [codec for codec, s in ranked[1:] if s >= score - _CLOSE]
    if not others:
        return f"looks like {CANDIDATES[best]}: pass --encoding {best}"
    named = " or ".join(f"{CANDIDATES[c]} (--encoding {c})" for c in [best, *others[:3]])
    return (
        f"looks like {named}, most likely the first; the bytes fit each, so check the "
        "names in a preview with the one you pass"
    )


#: Non-ASCII characters a confident answer needs: fewer fit many encodings equally well.
_ENOUGH = 4


def _fits(sample: bytes) -> list[str]:
    """The candidates (in `CANDIDATES` order) that decode `sample` without error.

    A character cut off at the sample's end is no error.
    """
    sample = sample[:SAMPLE_SIZE]
    fits = []
    for codec in CANDIDATES:
        try:
            sample.decode(codec)
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 3:
                continue
        fits.append(codec)
    return fits


def _evidence(sample: bytes, codec: str) -> int:
    """How many non-ASCII characters `sample` holds read in `codec`."""
    return sum(ord(ch) > 0x7F for ch in _decode(sample[:SAMPLE_SIZE], codec))


def rank(sample: bytes) -> list[tuple[str, float]]:
    """Candidate codecs that decode `sample`, best first, each with a plausibility 0..1."""
    sample = sample[:SAMPLE_SIZE]
    clean = _detected(sample)
    # Runs of bytes >= 0x80 that are all of even length are two-byte characters (CJK):
    # Thai or Latin text has odd runs too (a Thai word, a lone `é`).
    runs = [len(run) for run in re.findall(rb"[\x80-\xff]+", sample.rstrip(b"\x80-\xff"))]
    paired = len(runs) >= 2 and all(n % 2 == 0 for n in runs)
    scored: list[tuple[str, float]] = []
    for order, codec in enumerate(CANDIDATES):
        if codec not in clean:
            continue
        text = _decode(sample, codec)
        wide = [i for i, ch in enumerate(text) if ord(ch) > 0x7F]
        if not wide:
            continue
        fit = [i for i in wide if _plausible(codec, text, i)]
        plausible = len(fit) / len(wide)
        common = _COMMON.get(codec)
        if common is not None:  # how much of it is the language's everyday characters
            usual = sum(text[i] in common for i in fit) / len(wide)
            plausible *= 0.6 + 0.4 * usual
        if paired and codec in _SINGLE_BYTE:
            plausible *= 0.5
        scored.append((codec, plausible - order * 1e-6))  # ties: the order above
    scored.sort(key=lambda item: -item[1])
    return [(codec, round(score, 3)) for codec, score in scored]


def _detected(sample: bytes) -> set[str]:
    """The candidates charset-normalizer finds the sample readable in."""
    from charset_normalizer import from_bytes

    found = set()
    for match in from_bytes(sample, cp_isolation=list(CANDIDATES)):
        name = match.encoding
        found.add(_SAME.get(name, name))
    return found


#: charset-normalizer's names for codecs we suggest under another (a superset's) name.
_SAME = {"gbk": "gb18030", "gb2312": "gb18030", "euc_kr": "cp949", "big5": "cp950"}


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
    if codec in ("cp932", "euc_jp"):
        if 0x3041 <= o <= 0x30FE:  # hiragana, katakana
            return True
        if 0xFF61 <= o <= 0xFF9F:  # half-width katakana: in runs of their own, never mixed
            return all(_halfwidth_or_ascii(text, j) for j in (i - 1, i + 1))
        if not 0x4E00 <= o <= 0x9FFF:
            return False
        if codec == "euc_jp":
            return 0xB0 <= ch.encode("euc_jp")[0] <= 0xCF  # JIS level 1
        return 0x88 <= ch.encode("cp932")[0] <= 0x98  # JIS level 1
    if codec == "cp949":
        if not 0xAC00 <= o <= 0xD7A3:  # Hangul syllables
            return False
        try:
            ch.encode("euc_kr")  # the 2,350 of KS X 1001: everyday Korean
        except UnicodeEncodeError:
            return False
        return True
    if not 0x4E00 <= o <= 0x9FFF:
        return False
    try:
        if codec == "gb18030":
            return 0xB0 <= ch.encode("gb2312")[0] <= 0xD7  # GB2312 level 1
        return 0xA4 <= ch.encode("big5")[0] <= 0xC6  # Big5 frequent characters
    except UnicodeEncodeError:
        return False


def _halfwidth_or_ascii(text: str, i: int) -> bool:
    return not 0 <= i < len(text) or ord(text[i]) < 0x80 or 0xFF61 <= ord(text[i]) <= 0xFF9F


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
