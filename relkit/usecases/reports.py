"""``report``: the release report from the manifest, relkit.yml and the ledger."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from relkit.engines import hostvars
from relkit.errors import BadInput
from relkit.hostrules import atomic_write
from relkit.loading import file_kind, load_manifest
from relkit.project import Project
from relkit.report import HostFacts, build_report, host_strings
from relkit.report_render import Written, check_options, render_report
from relkit.secrets import redact_text, secret_env_names
from relkit.usecases.playing import register_secrets


def release_report(
    project: Project,
    manifest_path: Path,
    fmt: str = "md",
    lang: str = "en",
    now: datetime | None = None,
    hosts: Mapping[str, HostFacts] | None = None,
) -> Written:
    """Build and render the report of the release ``manifest_path`` describes.

    The hosts of each environment (address, deploy path, smoke targets) are read from its
    inventory with Ansible (:func:`environment_hosts`) unless ``hosts`` gives them.
    """
    check_options(fmt, lang)
    register_secrets(project)
    manifest = load_manifest(manifest_path)
    if manifest.app != project.config.app:
        raise BadInput(f"app: manifest is for {manifest.app!r}, this project deploys {project.config.app!r}")
    entries = list(project.ledger.entries())
    report = build_report(
        manifest,
        project.config,
        entries,
        manifest_ref=manifest_ref(project, manifest_path),
        generated_at=now or datetime.now(UTC),
        chain=project.ledger.verify(),
        hosts=environment_hosts(project, manifest.version) if hosts is None else hosts,
    )
    text = redact_text(render_report(report, fmt, lang, project.root))  # no secret in a report
    return Written(report, text, fmt, lang)


def manifest_ref(project: Project, manifest_path: Path) -> str:
    """How the report names the manifest: relative to the project (``releases/2.0.0.yml``), else
    its file name: never a path of the controller that writes the report."""
    path = manifest_path.resolve()
    try:
        return path.relative_to(project.root.resolve()).as_posix()
    except ValueError:
        return path.name


def environment_hosts(project: Project, version: str) -> dict[str, HostFacts]:
    """Each environment's hosts as its inventory gives them now, with relkit.yml's strings (the
    deploy path, the smoke targets) rendered per host as the plays of release ``version`` see
    them (``relkit_version``, ``relkit_env``, ``relkit_app``); an environment whose inventory
    cannot be read says why."""
    config = project.config
    strings = host_strings(config)
    jobs: dict[str, hostvars.Job] = {}
    missing: dict[str, str] = {}
    for env in config.environments:
        try:
            inventory = project.inventory(env)
        except BadInput as exc:
            missing[env] = str(exc)
            continue
        play_vars = {"relkit_version": version, "relkit_env": env, "relkit_app": config.app}
        jobs[env] = hostvars.Job(
            inventory, strings, {"relkit_project": config.model_dump(include={"deploy_path"}), **play_vars}
        )
    rendered = hostvars.render(jobs, hidden_env=secret_env_names(config))
    facts = {env: HostFacts(r.hosts, r.error) for env, r in rendered.items()}
    return {**facts, **{env: HostFacts({}, problem) for env, problem in missing.items()}}


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then rename).

    Only a new name or a regular file (or a link to one) is replaced: renaming over a device,
    FIFO or socket would replace it with a file (``-o /dev/full`` as root).
    """
    if not path.parent.is_dir():
        raise BadInput(f"-o/--out: directory {path.parent} does not exist")
    try:
        mode = path.stat().st_mode  # follows a link: a link to a device is refused too
    except FileNotFoundError:
        mode = None  # a new file (or a dangling link, which the rename replaces)
    except OSError as exc:
        raise BadInput(f"-o/--out: cannot use {path}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise BadInput(f"-o/--out: {path} is a directory; name a file")
    if mode is not None and not stat.S_ISREG(mode):
        raise BadInput(f"-o/--out: {path} is not a regular file ({file_kind(mode)}); name a file to write")
    atomic_write(path, text, 0o644)
