"""Deployments: a BPMN file becomes a numbered version of its process, stored once with its hash.

Instances are pinned to the version they started on. Parsed specs are cached per version, so a request
parses nothing: SpiffWorkflow parsing costs milliseconds, a cache hit nothing.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer

from engine.config import PROCESSES_DIR
from engine.db import database_key
from engine.models import ProcessDefinition, ProcessInstance
from engine.workflow.parser import DeploymentError, ParsedProcess, parse_bpmn
from engine.workflow.validation import check_and_raise

log = logging.getLogger("banli.deployment")


_CACHE: dict[tuple[int, str], ParsedProcess] = {}


def parsed(definition: ProcessDefinition) -> ParsedProcess:
    """The parsed spec of a deployed version, parsed once per process."""
    key = (definition.id, definition.sha256)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = parse_bpmn(definition.bpmn_xml.encode("utf-8"), definition.filename)
    return hit


_BY_ID: dict[tuple[str, int], ParsedProcess] = {}


def parsed_version(session: Session, definition_id: int) -> ParsedProcess:
    """The parsed spec of a version by id: a deployed version never changes, so no row is read once parsed
    (keyed by database too: tests and benchmarks open many databases in one process)."""
    key = (database_key(session), definition_id)
    hit = _BY_ID.get(key)
    if hit is None:
        hit = _BY_ID[key] = parsed(session.get(ProcessDefinition, definition_id))
    return hit


_NEWEST = select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("version")).group_by(
    ProcessDefinition.process_id).subquery()
_NEWEST_VERSIONS = (select(ProcessDefinition).options(defer(ProcessDefinition.bpmn_xml))
                    .join(_NEWEST, (ProcessDefinition.process_id == _NEWEST.c.process_id)
                          & (ProcessDefinition.version == _NEWEST.c.version))
                    .order_by(ProcessDefinition.process_id))


def newest_versions(session: Session) -> list[ProcessDefinition]:
    """The newest version of each deployed process, by process id, without their BPMN text."""
    return list(session.scalars(_NEWEST_VERSIONS))


def warm(session: Session) -> None:
    """Parse ahead the versions requests will ask for: the newest of each process (new items) and every version a
    running item is pinned to; a web worker does it before its first request, which otherwise parsed BPMN on
    the user's time."""
    pinned = select(ProcessInstance.definition_id).where(ProcessInstance.status == "running").distinct()
    for definition_id in {d.id for d in newest_versions(session)} | set(session.scalars(pinned)):
        parsed_version(session, definition_id)


def warm_at_start(db, process: str) -> None:
    """`warm` as a server process starts (a web worker, the scheduler). A database that cannot be read yet (not
    initialised, restarting) must not stop the start: a web worker that failed to boot stopped all of gunicorn,
    and the scheduler's ticks retry by themselves. The versions are then parsed at their first use."""
    try:
        with db.reading() as session:
            warm(session)
    except SQLAlchemyError as exc:
        log.warning("%s: processes not parsed ahead (%s); they will be parsed at first use", process,
                    str(exc).splitlines()[0])


def sha256(xml: bytes) -> str:
    return hashlib.sha256(xml).hexdigest()


# Built once: an ORM statement built per call costs its cache key at every registration.
_LATEST = (select(ProcessDefinition).where(ProcessDefinition.process_id == bindparam("process_id"))
           .order_by(ProcessDefinition.version.desc()).limit(1))
_LATEST_WITHOUT_TEXT = _LATEST.options(defer(ProcessDefinition.bpmn_xml))


def latest(session: Session, process_id: str, *, text: bool = True) -> ProcessDefinition | None:
    """The newest version. `text=False` leaves its BPMN text (tens of KB) unread, read on access while the session
    is open: a registration asks for the newest version, whose spec is parsed and cached already."""
    return session.scalars(_LATEST if text else _LATEST_WITHOUT_TEXT, {"process_id": process_id}).first()


def deploy(session: Session, xml: bytes, filename: str, deployed_by: str) -> tuple[ProcessDefinition, bool]:
    """Deploy `xml` as the next version of its process. Returns (definition, created).

    Deploying the same bytes as the newest version creates nothing.
    """
    proc = parse_bpmn(xml, filename)
    digest = sha256(xml)
    newest = latest(session, proc.process_id)
    if newest is not None and newest.sha256 == digest:
        return newest, False
    version = (session.scalar(select(func.max(ProcessDefinition.version))
                              .where(ProcessDefinition.process_id == proc.process_id)) or 0) + 1
    definition = ProcessDefinition(process_id=proc.process_id, name=proc.name, version=version, sha256=digest,
                                   bpmn_xml=xml.decode("utf-8"), filename=Path(filename).name,
                                   deployed_by=deployed_by)
    session.add(definition)
    session.flush()
    _CACHE[(definition.id, digest)] = proc
    return definition, True


def deploy_directory(session: Session, directory: Path = PROCESSES_DIR, deployed_by: str = "system"):
    """Deploy every `.bpmn` file of `processes/` whose content is not the newest version yet, each
    validated first like an admin's upload."""
    deployed = []
    for path in sorted(directory.glob("*.bpmn")):
        xml = path.read_bytes()
        check_and_raise(xml, path.name)
        deployed.append(deploy(session, xml, path.name, deployed_by))
    return deployed
