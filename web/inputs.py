"""Request input that cannot crash a page: bounded whole numbers in paths, query strings and forms, and
clear pages for requests that are malformed or too large.

Every id, year, page number and count the app takes is a non-negative whole number that fits the
database's integer columns; a 20-digit number would otherwise reach SQLite or PostgreSQL and fail there
(OverflowError, NumericValueOutOfRange) as a 500. Bounding it where Werkzeug parses it covers every route
and parameter at once: a path that is out of range matches nothing (404), a query or form parameter that
is out of range is refused with a message (400). A NUL character anywhere in the input is refused the same
way: no page needs one, and PostgreSQL refuses it even as a query parameter (an error, not an answer).
"""
from __future__ import annotations

from flask import Request, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

INT_MAX = 2**31 - 1  # the largest value of an INTEGER column on PostgreSQL
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # a whole request: the largest .xlsx import or calendar file, with room


class ParameterOutOfRange(BadRequest):
    def __init__(self, name: str, raw: str):
        shown = raw if len(raw) <= 24 else raw[:21] + "..."
        super().__init__(_l("参数 %(name)s 的值 %(value)s 超出范围（0 至 %(max)s）", name=name, value=shown,
                            max=INT_MAX))


class NulCharacter(BadRequest):
    def __init__(self, name: str):
        super().__init__(_l("参数 %(name)s 含有不允许的空字符（NUL）", name=name))


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_characters(request) -> None:
    """Query, form and JSON input, the path included, without NUL characters."""
    if "\x00" in request.path:
        raise NulCharacter("path")
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if _has_nul(name) or _has_nul(value):
                raise NulCharacter(name.replace("\x00", ""))
    if request.is_json and _has_nul(request.get_json(silent=True)):
        raise NulCharacter("json")


def _bounded_int(name: str):
    def convert(raw: str) -> int:
        value = int(raw) if len(raw) <= 20 else None  # int() of thousands of digits is itself a ValueError
        if value is None:
            raise ValueError(raw)
        if not 0 <= value <= INT_MAX:
            raise ParameterOutOfRange(name, raw)
        return value
    return convert


class BoundedParameters(ImmutableMultiDict):
    """Query and form parameters: `get(name, type=int)` and `getlist(name, type=int)` keep Werkzeug's
    meaning (a value that is not a number counts as absent) and refuse numbers outside 0..INT_MAX."""

    def get(self, key, default=None, type=None):  # noqa: A002 - Werkzeug's signature
        return super().get(key, default, _bounded_int(key) if type is int else type)

    def getlist(self, key, type=None):  # noqa: A002
        return super().getlist(key, _bounded_int(key) if type is int else type)


class BoundedRequest(Request):
    parameter_storage_class = BoundedParameters


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` in every route: non-negative and within INT_MAX, else no match (404)."""

    def __init__(self, url_map, fixed_digits=0, min=0, max=INT_MAX, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def install(app) -> None:
    """Before the blueprints are registered (the converter applies to rules as they are added)."""
    app.request_class = BoundedRequest
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_UPLOAD_BYTES)

    @app.before_request
    def no_nul_characters():
        refuse_nul_characters(request)

    @app.errorhandler(400)
    def bad_request(exc):
        message = exc.description if isinstance(exc, (ParameterOutOfRange, NulCharacter)) or exc.description else None
        return render_template("error.html", code=400, message=message or _l("请求有误。")), 400

    @app.errorhandler(413)
    def too_large(_exc):
        return render_template("error.html", code=413, message=_l("提交的内容或文件过大（至多 %(mb)s MB）。",
                                                                 mb=app.config["MAX_CONTENT_LENGTH"] // 2**20)), 413
