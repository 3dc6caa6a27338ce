"""How surnames are read.

pypinyin reads a character with its most frequent reading, which for many surnames is
not the one used as a surname (曾 ceng, 单 dan, 解 jie …).  Names are compared and
searched by pinyin, so the surname must be read as a surname: otherwise 曾伟 and its
homophone misspelling 增伟 would not share a pinyin key.

Compound surnames are matched first (longest prefix), then single-character readings;
characters not listed here take pypinyin's default reading.  Keys are simplified
characters: names are converted with OpenCC t2s before they are read.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COMPOUND_SURNAMES", "SINGLE_SURNAME_READINGS", "split_surname"]

# Two-character surnames with their readings (one syllable per character).
COMPOUND_SURNAMES: Final[dict[str, tuple[str, str]]] = {
    "欧阳": ("ou", "yang"),
    "司马": ("si", "ma"),
    "诸葛": ("zhu", "ge"),
    "上官": ("shang", "guan"),
    "皇甫": ("huang", "fu"),
    "尉迟": ("yu", "chi"),
    "万俟": ("mo", "qi"),
    "长孙": ("zhang", "sun"),
    "慕容": ("mu", "rong"),
    "东方": ("dong", "fang"),
    "夏侯": ("xia", "hou"),
    "令狐": ("ling", "hu"),
    "公孙": ("gong", "sun"),
    "宇文": ("yu", "wen"),
    "轩辕": ("xuan", "yuan"),
    "端木": ("duan", "mu"),
    "司徒": ("si", "tu"),
    "司空": ("si", "kong"),
    "独孤": ("du", "gu"),
    "南宫": ("nan", "gong"),
    "西门": ("xi", "men"),
    "百里": ("bai", "li"),
    "呼延": ("hu", "yan"),
    "闻人": ("wen", "ren"),
    "澹台": ("tan", "tai"),
    "公冶": ("gong", "ye"),
    "宗政": ("zong", "zheng"),
    "濮阳": ("pu", "yang"),
    "淳于": ("chun", "yu"),
    "单于": ("chan", "yu"),
    "太叔": ("tai", "shu"),
    "申屠": ("shen", "tu"),
    "钟离": ("zhong", "li"),
    "赫连": ("he", "lian"),
    "拓跋": ("tuo", "ba"),
    "鲜于": ("xian", "yu"),
    "闾丘": ("lv", "qiu"),
    "左丘": ("zuo", "qiu"),
    "东郭": ("dong", "guo"),
    "公羊": ("gong", "yang"),
    "乐正": ("yue", "zheng"),
    "漆雕": ("qi", "diao"),
    "亓官": ("qi", "guan"),
    "司寇": ("si", "kou"),
    "仲孙": ("zhong", "sun"),
    "叔孙": ("shu", "sun"),
    "巫马": ("wu", "ma"),
    "颛孙": ("zhuan", "sun"),
    "段干": ("duan", "gan"),
    "第五": ("di", "wu"),
}

# Single-character surnames whose surname reading differs from pypinyin's default, or
# which are often misread; listing a correct default too is harmless and documents it.
SINGLE_SURNAME_READINGS: Final[dict[str, str]] = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "查": "zha",
    "朴": "piao",
    "覃": "qin",
    "召": "shao",
    "缪": "miao",
    "盖": "ge",
    "员": "yun",
    "折": "she",
    "种": "chong",
    "乐": "yue",
    "秘": "bi",
    "重": "chong",
    "相": "xiang",
    "华": "hua",
    "曲": "qu",
    "尉": "wei",
    "过": "guo",
    "燕": "yan",
    "纪": "ji",
    "任": "ren",
    "那": "na",
    "柏": "bai",
    "贾": "jia",
    "薄": "bo",
    "翟": "zhai",
    "沈": "shen",
    "石": "shi",
    "宿": "su",
    "莘": "shen",
    "冼": "xian",
    "繁": "po",
    "阚": "kan",
    "句": "gou",
    "粘": "nian",
    "隗": "wei",
    "逄": "pang",
    "訾": "zi",
    "谌": "chen",
    "藏": "zang",
    "长": "chang",
    "都": "du",
    "能": "nai",
    "佴": "nai",
    "蔚": "yu",
    "卜": "bu",
    "朝": "chao",
    "叶": "ye",
    "褚": "chu",
    "郗": "xi",
    "眭": "sui",
}


def split_surname(name: str) -> tuple[str, str]:
    """Split a normalised (simplified) name into (surname, given name).

    A listed compound surname wins when at least one character follows it, so 欧阳娜娜 is
    欧阳 + 娜娜 while a two-character name like 司马 stays 司 + 马."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]
