"""Contact details: what a telephone number and an e-mail address must look like (联系电话 / 电子邮箱).

One place for the check, used by the directory and by task forms (a pledge's contact phone).
"""
from __future__ import annotations

import re

# Mobile 13812345678, landline 0571-87654321 or (0571)8765 4321, +86 138..., with an extension 转123 / -123.
_PHONE = re.compile(r"^\+?[\d\s\-()（）]{7,24}(\s*(转|ext\.?|x)\s*\d{1,6})?$", re.IGNORECASE)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def valid_phone(value: str) -> bool:
    value = value.strip()
    digits = sum(c.isdigit() for c in value.split("转")[0])
    return bool(_PHONE.match(value)) and 7 <= digits <= 15


def valid_email(value: str) -> bool:
    return len(value) <= 200 and bool(_EMAIL.match(value.strip()))
