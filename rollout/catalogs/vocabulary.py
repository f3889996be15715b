"""The words of catalog tables: text normalization, ✓ marks, channel names and their synonyms.

Office files differ in small ways from the national guideline tables (国办发〔2019〕54号 and the
26 domain guidelines): full-width letters, digits and spaces, line breaks inside cells, ■/□
check boxes for channels, the 2019 channel names (两微一端, 政务服务中心, 社区/企事业单位/村公示栏) next
to the plan's list (§三(一)). Everything here is pure.
"""

from __future__ import annotations

import re
import unicodedata

from rollout.models import DisclosureChannel

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}（）《》〔〕、，。：；“”])\s+(?=[{_CJK}（）《》〔〕、，。：；“”])")
_SPACES = re.compile(r"\s+")


def normalize_text(value: object) -> str:
    """A cell's text as rollout compares and stores it.

    NFKC (full-width letters, digits, spaces and ASCII punctuation become half-width), whitespace
    between two Chinese characters removed (line wraps inside a cell: "最低\\n生活\\n保障" →
    "最低生活保障"), other runs of whitespace collapsed to one space, ends stripped. ``None`` → "".
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).replace("\ufeff", "")
    text = _SPACE_BETWEEN_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip()


def name_key(value: str) -> str:
    """A key for comparing item names: normalized, without any whitespace or the punctuation
    that varies between files ("(", ")", "、", "·")."""
    text = normalize_text(value)
    return re.sub(r"[\s()（）、·•,，.。]", "", text)


#: Cell texts that mean "marked" in a ✓ column (after ``normalize_text``).
TRUE_MARKS = frozenset({"✓", "√", "✔", "☑", "■", "●", "是", "Y", "y", "yes", "Yes", "1", "v", "V"})
#: Cell texts that mean "not marked".
FALSE_MARKS = frozenset({"", "□", "☐", "否", "N", "n", "no", "No", "0", "-", "—", "/"})

#: Channel names and the 2019 guideline names they stand for (exact, after ``normalize_text``).
CHANNEL_SYNONYMS: dict[str, DisclosureChannel] = {
    "政府网站": DisclosureChannel.government_website,
    "门户网站": DisclosureChannel.government_website,
    "政府门户网站": DisclosureChannel.government_website,
    "政府公报": DisclosureChannel.government_gazette,
    "政务新媒体": DisclosureChannel.new_media,
    "两微一端": DisclosureChannel.new_media,
    "微信公众号": DisclosureChannel.new_media,
    "政务微博": DisclosureChannel.new_media,
    "政务服务大厅": DisclosureChannel.service_hall,
    "政务服务中心": DisclosureChannel.service_hall,
    "政府服务中心": DisclosureChannel.service_hall,
    "便民服务站": DisclosureChannel.service_station,
    "便民服务中心": DisclosureChannel.service_station,
    "公开栏": DisclosureChannel.bulletin_board,
    "公示栏": DisclosureChannel.bulletin_board,
    "广播电视": DisclosureChannel.broadcast,
    "报刊": DisclosureChannel.press,
    "纸质媒体": DisclosureChannel.press,
    "精准推送": DisclosureChannel.targeted_push,
    "其他": DisclosureChannel.other,
    "发布会/听证会": DisclosureChannel.other,
    "入户/现场": DisclosureChannel.other,
    "公开查阅点": DisclosureChannel.other,
}

_CHANNEL_SPLIT = re.compile(r"[、,，;；\s]+")


def _channel_of(token: str) -> DisclosureChannel | None:
    if token in CHANNEL_SYNONYMS:
        return CHANNEL_SYNONYMS[token]
    if token in {c.value for c in DisclosureChannel}:
        return DisclosureChannel(token)
    if "公示栏" in token or "公开栏" in token:  # 社区/企事业单位/村公示栏(电子屏)
        return DisclosureChannel.bulletin_board
    return None


def parse_channels(text: str) -> list[str]:
    """The channels named in a 公开渠道和载体 cell, in order, without repeats.

    Two cell styles: check boxes ("■政府网站 □政府公报 ■两微一端": only the ■ ones count) or a
    list ("政府网站、政务新媒体"). Known names become ``DisclosureChannel`` values; an unknown
    name is kept as its text (the checks report it). Notes in parentheses ("(电子屏)") are
    dropped. A list split by spaces or line breaks is split there, before the cell's whitespace
    is normalized. Empty cell → ``[]``.
    """
    raw = unicodedata.normalize("NFKC", text or "")
    raw = re.sub(r"\([^()]*\)", "", raw)  # "(电子屏)" and other notes
    if any(box in raw for box in "■□☑☐"):
        parts = re.split(r"([■□☑☐])", raw)
        tokens = [parts[i + 1] for i in range(1, len(parts) - 1, 2) if parts[i] in "■☑"]
    else:
        tokens = _CHANNEL_SPLIT.split(raw)
    out: list[str] = []
    for token in (normalize_text(t) for t in tokens):
        if not token:
            continue
        channel = _channel_of(token)
        value = channel.value if channel else token
        if value not in out:
            out.append(value)
    return out


def parse_mark(text: str) -> bool | None:
    """Whether a ✓ cell is marked: True, False, or None when the text is not a mark at all."""
    text = normalize_text(text)
    if text in TRUE_MARKS:
        return True
    if text in FALSE_MARKS:
        return False
    return None
