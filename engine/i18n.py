"""Engine text shown to users is Chinese and marked with `N_` so it is a msgid of the UI's catalog.

The engine never imports Flask; it marks its messages (timeline titles, task errors) with `N_`, which
returns the text unchanged. `pybabel extract` (babel.cfg reads engine/ too) and `tests/test_i18n.py` see
the marks, so every such message has its English in web/translations; the web layer translates it with
gettext when it shows it.
"""
from __future__ import annotations


def N_(text: str) -> str:
    return text
