"""脱敏 as a library: every shape of contact detail people write is hidden, ordinary text is left alone."""
from __future__ import annotations

import pytest

from engine.people.redaction import REDACTED, looks_like_probe, redact

R = REDACTED

HIDDEN = [  # (text, what must be gone)
    ("联系电话13812345678。", "13812345678"),
    ("手机：１３８１２３４５６７８", "１３８１２３４５６７８"),  # full-width digits
    ("请拨138.1234.5678", "138.1234.5678"),  # dotted
    ("请拨 138  1234  5678 联系", "138  1234  5678"),  # double-spaced
    ("请拨138-1234-5678", "138-1234-5678"),
    ("请拨1 3 8 1 2 3 4 5 6 7 8", "1 3 8 1 2 3 4 5 6 7 8"),
    ("电话+86 138 1234 5678", "+86 138 1234 5678"),
    ("手机号一三八一二三四五六七八", "一三八一二三四五六七八"),  # Chinese numerals
    ("幺三八幺二三四五六七八", "幺三八幺二三四五六七八"),
    ("手机壹叁捌壹贰叁肆伍陆柒捌", "壹叁捌壹贰叁肆伍陆柒捌"),
    ("邮箱 zhang.san@example.com 。", "zhang.san@example.com"),
    ("邮箱zhang＠example．com", "zhang＠example．com"),  # full-width @ and dot
    ("邮箱 zhang(at)example.com", "zhang(at)example.com"),
    ("邮箱 zhang [at] example [dot] com", "zhang [at] example [dot] com"),
    ("邮箱 zhang at example dot com", "zhang at example dot com"),
    ("邮箱 zhang @ example . com", "zhang @ example . com"),  # spaced
    ("邮箱：用户@例子.中国", "用户@例子.中国"),  # internationalised (IDN)
    ("邮箱 info@xn--fiqs8s.cn", "info@xn--fiqs8s.cn"),
    ("身份证110101199003071234", "110101199003071234"),
    ("身份证11010119900307123X", "11010119900307123X"),
    ("身份证 110101 19900307 1234", "110101 19900307 1234"),  # spaced
    ("身份证110101-19900307-1234", "110101-19900307-1234"),  # dashed
    ("身份证１１０１０１１９９００３０７１２３４", "１１０１０１１９９００３０７１２３４"),  # full-width
    ("老身份证110101900307123", "110101900307123"),  # 15 digits
    ("座机0755 1234 5678", "0755 1234 5678"),
    ("座机(0755)12345678", "(0755)12345678"),
    ("座机（010）8888 6666转123", "（010）8888 6666转123"),
    ("座机010-88886666", "010-88886666"),
    ("热线400-123-4567", "400-123-4567"),
    ("电话：8888 6666", "8888 6666"),  # a local number where it is called a phone
    ("QQ：12345678", "12345678"),
    ("微信号 13812345678", "13812345678"),
]


@pytest.mark.parametrize("text, secret", HIDDEN)
def test_contact_details_are_hidden(text, secret):
    out = redact(text)
    assert secret not in out and R in out
    digits = "".join(c for c in secret if c.isdigit())
    assert len(digits) < 5 or digits not in "".join(c for c in out if c.isdigit())


@pytest.mark.parametrize("text", [
    "2025年共办理建议46件、提案58件，满意率100%。",
    "项目总投资1200万元，计划于2026-06-30前完成。",
    "自2025.10.01起实施，第3批共12个小区。",
    "一是加强统筹，二是完善机制，三是强化督查。",
    "区十八届人大五次会议第JY2026-003号建议",
])
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_the_words_around_an_address_survive():
    assert redact("请发送至zhang@example.com，谢谢") == f"请发送至{R}，谢谢"
    assert redact(None) == "" and redact("") == ""


def test_probes_are_recognised():
    assert looks_like_probe("13812") and looks_like_probe("１３８１２") and looks_like_probe("a@")
    assert not looks_like_probe("垃圾分类") and not looks_like_probe("2025")
