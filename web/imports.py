"""批量登记: the Excel template and the upload that registers every row, or none when any row is wrong.

Without JavaScript the upload is one request that answers with the result. With it, the page asks for an
NDJSON stream instead: one line per progress step while the rows are validated, then the rendered result,
so a large file shows how far it has got.
"""
from __future__ import annotations

import json
import logging
import queue
import threading

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user

from engine.i18n import N_
from engine.reports import excel
from engine.db import Database
from engine.models import User
from web.helpers import current_lang, db, roles_required

bp = Blueprint("imports", __name__, url_prefix="/imports")
log = logging.getLogger(__name__)
STEPS = 100  # progress lines per file at most


@bp.get("/")
@roles_required("office")
def upload_form():
    return render_template("reports/import.html", outcome=None)


@bp.get("/template.xlsx")
@roles_required("office")
def template():
    with db().reading() as s:
        data = excel.registration_template(s)
    return Response(data, mimetype=excel.XLSX_MIME,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''banli-import-template.xlsx"})


def _run(database: Database, data: bytes, user_id: int, report) -> dict:
    """Import in one transaction; the outcome as the result template shows it."""
    try:
        with database.transaction() as s:
            result = excel.import_items(s, data, s.get(User, user_id), report)
        return {"ok": True, "rows": result.rows, "imported": result.imported, "ignored": result.ignored_columns}
    except excel.ImportFileInvalid as exc:
        return {"ok": False, "file_error": exc.args[0]}  # a catalog message: the page renders it (|tr)
    except excel.ImportInvalid as exc:
        return {"ok": False, "rows": exc.rows, "errors": exc.errors}


def _outcome_html(outcome: dict) -> str:
    return render_template("reports/_import_result.html", outcome=outcome, lang=current_lang())


@bp.post("/")
@roles_required("office")
def upload():
    upload_file = request.files.get("file")
    data = upload_file.read(excel.MAX_BYTES + 1) if upload_file and upload_file.filename else b""
    if not data:
        outcome = {"ok": False, "file_error": _("请选择要导入的 Excel 文件。")}
        return render_template("reports/import.html", outcome=outcome), 400
    database, user_id = db(), current_user.id
    if request.accept_mimetypes.best == "application/x-ndjson":
        return Response(stream_with_context(_stream(database, data, user_id)), mimetype="application/x-ndjson",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    outcome = _run(database, data, user_id, None)
    return render_template("reports/import.html", outcome=outcome), 200 if outcome["ok"] else 400


def _stream(database: Database, data: bytes, user_id: int):
    """Run the import in a worker thread and pass its progress on as it comes."""
    events: queue.Queue = queue.Queue()

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // STEPS) == 0:
            events.put(("progress", done, total))

    def work() -> None:
        try:
            events.put(("done", _run(database, data, user_id, report)))
        except Exception:  # noqa: BLE001 - the page must hear about it, the log keeps the details
            log.exception("import failed")
            events.put(("done", {"ok": False, "file_error": N_("导入时发生内部错误，未导入任何事项")}))

    threading.Thread(target=work, name="banli-import", daemon=True).start()
    while True:
        kind, *rest = events.get()
        if kind == "progress":
            yield json.dumps({"done": rest[0], "total": rest[1]}) + "\n"
        else:
            outcome = rest[0]
            yield json.dumps({"ok": outcome["ok"], "html": _outcome_html(outcome)}, ensure_ascii=False) + "\n"
            return
