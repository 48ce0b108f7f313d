"""Engine text shown to users is Chinese and marked with `N_` so it is a msgid of the UI's catalog.

The engine never imports Flask; it marks its messages (timeline titles, task errors, notifications) with
`N_`. `pybabel extract` (babel.cfg reads engine/ too) and `tests/test_i18n.py` see the marks, so every such
message has its English in web/translations; the web layer translates it when it shows it.

A message with parameters (`N_("答复期限已延至 %(date)s", date=...)`) is a `Msg`: a str holding the Chinese
text, as logs, the command line and Chinese e-mails read it, that also keeps its msgid and parameters so
the reader's language can be filled in later (`render`), or stored (`to_json`) and rendered at display time.
A parameter that is itself catalog text (a deadline's label, an urge's channel) is passed as a `Msg` too.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

Translate = Callable[[str], str]  # msgid -> text in the reader's language
LANGUAGES = ("zh", "en")
# The UI's catalog (compiled by `make translations`); the engine reads it for what it writes itself (e-mails).
CATALOG = Path(__file__).resolve().parent.parent / "web" / "translations"


def _same(text: str) -> str:
    return text


def _fill(text: str, params: dict) -> str:
    return text % params if params else text


def in_context(translate: Translate, context: str, msgid: str) -> str:
    """`msgid` of the catalog's `context` (msgctxt) through a plain gettext: compiled catalogs key such an
    entry as context + EOT + msgid, as gettext's own pgettext looks it up. Not found: the msgid as written."""
    key = f"{context}\x04{msgid}"
    text = translate(key)
    return msgid if text == key else text


class Msg(str):
    """A catalog message and its parameters; as a str, the Chinese text. `context` is the catalog's msgctxt
    of the msgid, if any (process content: engine.workflow.process_text)."""

    msgid: str
    params: dict
    context: str | None = None

    def __new__(cls, msgid: str, **params):
        self = super().__new__(cls, _fill(msgid, {k: str(v) if isinstance(v, Msg) else v for k, v in params.items()}))
        self.msgid, self.params = str(msgid), params
        return self

    @classmethod
    def of(cls, context: str, msgid: str) -> "Msg":
        """A msgid of the catalog's `context`, without parameters."""
        self = cls(msgid)
        self.context = context
        return self

    def render(self, translate: Translate = _same) -> str:
        """The text in the language of `translate` (Chinese by default), parameters rendered alike."""
        params = {k: v.render(translate) if isinstance(v, Msg) else v for k, v in self.params.items()}
        if not self.msgid:
            return ""
        return _fill(in_context(translate, self.context, self.msgid) if self.context else translate(self.msgid),
                     params)

    def to_json(self) -> list:
        """As stored: [msgid], [msgid, params] or [msgid, params, context], a parameter that is a message
        as such a list; empty parts left out (a closed item keeps thousands of these)."""
        params = {k: v.to_json() if isinstance(v, Msg) else v for k, v in self.params.items()}
        if self.context:
            return [self.msgid, params, self.context]
        return [self.msgid, params] if params else [self.msgid]

    @classmethod
    def from_json(cls, data: list | dict) -> "Msg":
        """A stored message: the list of `to_json`, or the {"id", "params", "context"} of rows written before."""
        if isinstance(data, dict):
            msgid, params, context = data["id"], data.get("params"), data.get("context")
        else:
            msgid, params, context = data[0], data[1] if len(data) > 1 else None, data[2] if len(data) > 2 else None
        self = cls(msgid, **{k: cls.from_json(v) if isinstance(v, (dict, list)) else v
                             for k, v in (params or {}).items()})
        self.context = context
        return self

    def __reduce__(self):  # pickles (and copies) as a Msg, not as the plain text
        return (_rebuild, (self.msgid, self.params, self.context))


def _rebuild(msgid: str, params: dict, context: str | None = None) -> Msg:
    self = Msg(msgid, **params)
    self.context = context
    return self


PROCESS_CONTEXT = "bpmn"  # the catalog's msgctxt of process content (engine.workflow.process_text)


def step_name(name: str) -> Msg:
    """A name from a BPMN file (a step, a lane, a label) as a catalog message of process content, as a
    parameter of an engine message (新任务：%(step)s) that renders it in the reader's language."""
    return Msg.of(PROCESS_CONTEXT, name)


def N_(text: str, **params):
    """Mark `text` as a catalog msgid; with parameters, a `Msg` that fills them in the reader's language."""
    return Msg(text, **params) if params else text


def render(text, translate: Translate = _same) -> str:
    """Engine text in the language of `translate`: a `Msg` with its parameters, a plain msgid as it is
    translated (text that is not in the catalog, such as data typed by a user, comes back unchanged)."""
    if isinstance(text, Msg):
        return text.render(translate)
    return translate(text) if text else (text or "")


def carried(exc: BaseException | None) -> Msg | None:
    """The catalog message an exception carries as its first argument (a sandbox refusal, a time-out), looked
    for through the exceptions that wrapped it: SpiffWorkflow puts a script's failure into its own text."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.args and isinstance(exc.args[0], Msg):
            return exc.args[0]
        exc = exc.__cause__ or exc.__context__
    return None


@lru_cache(maxsize=None)
def translator(lang: str | None) -> Translate:
    """The catalog's gettext for `lang`; Chinese (the msgids themselves) for anything else."""
    if lang not in LANGUAGES or lang == "zh":
        return _same
    from babel.support import Translations

    return Translations.load(str(CATALOG), [lang], domain="messages").gettext
