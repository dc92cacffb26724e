"""``validate``: a manifest (and relkit.yml) checked as far as what is at hand allows.

Outside a project only the manifest file is checked (and :class:`Validation` says so). Inside
one (``-C``, ``$RELKIT_PROJECT`` or a relkit.yml found upward), relkit.yml is checked too: it
loads, its gate names exist, every inventory is there, and each variable its templated strings
use is one the plays provide or the inventories define (:mod:`relkit.playvars`); then the
manifest against the project: its app is the project's, and its artifact exists and has the
manifest's sha256. Every problem is a ``field: what is wrong`` line of one :class:`BadInput`
(exit 2), for relkit.yml first (a manifest is not judged against a broken project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relkit import gates, inventories, playvars
from relkit.errors import BadInput
from relkit.hostrules import sha256_file
from relkit.loading import file_kind, load_manifest
from relkit.manifest import Manifest
from relkit.project import CONFIG_NAME, Project, locate_config
from relkit.secrets import vault_password_file


@dataclass
class Validation:
    """What ``relkit validate`` checked, and notes on what it could not."""

    manifest: Manifest | None
    project: Path | None
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--output json``)."""
        return {
            "valid": True,
            "app": self.manifest.app if self.manifest else None,
            "version": self.manifest.version if self.manifest else None,
            "project": str(self.project) if self.project else None,
            "checked": self.checked,
            "notes": self.notes,
        }


def validate_release(project: Project | None, manifest_path: Path | None) -> Validation:
    """Check ``manifest_path`` (and, inside a project, relkit.yml and the manifest against it).

    Raises :class:`BadInput` naming every bad field of the first file that has any.
    """
    if project is None and manifest_path is None:
        raise BadInput(
            f"nothing to validate: give a manifest, or run inside a project (a {CONFIG_NAME} here or above, "
            "-C DIR or $RELKIT_PROJECT) to check its relkit.yml"
        )
    manifest = load_manifest(manifest_path) if manifest_path is not None else None
    if project is None:
        assert manifest_path is not None
        return _file_only(manifest, manifest_path)
    result = Validation(manifest, project.root)
    if manifest is not None:
        result.checked.append("the manifest file")
    result.checked.append(f"{CONFIG_NAME} (its keys, gate names and inventories)")
    _check_config(project, result)
    if manifest is not None and manifest_path is not None:
        _check_manifest(project, manifest, manifest_path, result)
    return result


def _file_only(manifest: Manifest | None, manifest_path: Path) -> Validation:
    """The manifest file alone: say so, and where a project to check it against might be."""
    result = Validation(manifest, None, ["the manifest file"])
    near = locate_config(manifest_path.resolve().parent)
    hint = (
        f"relkit -C {near.parent} validate {manifest_path} checks it against the project there"
        if near is not None
        else "relkit -C DIR validate MANIFEST checks it against a project"
    )
    result.notes.append(
        f"no project here (no {CONFIG_NAME} in the current directory or above, no -C, no $RELKIT_PROJECT): "
        f"the manifest's app, artifact and sha256 were not checked; {hint}"
    )
    return result


def _check_config(project: Project, result: Validation) -> None:
    """relkit.yml beyond its schema: gate names, inventories, the variables of its strings."""
    config, problems = project.config, []
    if unknown := gates.unknown_gates(config.policy):
        known = ", ".join(sorted(gates.GATES))
        problems.append(f"policy: unknown gate name(s) {', '.join(unknown)} (known: {known})")
    paths: dict[str, Path] = {}
    for env in config.environments:
        try:
            paths[env] = project.inventory(env)
        except BadInput as exc:
            problems.append(str(exc))
    host_vars, unread = inventories.host_variables(paths, vault_password_file(config, project.root))
    for env, vars_of_hosts in sorted(host_vars.items()):
        problems += [str(p) for p in playvars.set_by_relkit(env, vars_of_hosts)]
    problems += [str(p) for p in playvars.check(config, host_vars)]
    if problems:
        raise BadInput(
            f"{project.root / CONFIG_NAME}: invalid ProjectConfig"
            + (" (the manifest was not checked against it)" if result.manifest else ""),
            problems,
        )
    for env, why in sorted(unread.items()):
        result.notes.append(
            f"environments.{env}.inventory: its variables could not be read ({why}); the strings of "
            f"{CONFIG_NAME} were checked against the plays' variables only there"
        )
    read = ", ".join(sorted(host_vars)) or "none"
    result.checked.append(f"the variables its strings use (the plays', the inventories' of {read})")


def _not_a_file(path: Path) -> str:
    """Why ``path`` is no artifact file: missing, or what it is instead."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return f"{path.resolve()} not found"
    return f"{path.resolve()} is not a regular file ({file_kind(mode)})"


def _check_manifest(project: Project, manifest: Manifest, path: Path, result: Validation) -> None:
    """The manifest against the project: its app, its artifact and the artifact's sha256."""
    config, problems, done = project.config, [], ["the manifest's app"]
    if manifest.app != config.app:
        problems.append(
            f"app: the manifest is for {manifest.app!r}, this project ({CONFIG_NAME}) deploys {config.app!r}"
        )
    spec, want = manifest.artifact, manifest.artifact.sha256
    if spec.path is not None:
        file = Path(spec.path) if Path(spec.path).is_absolute() else (path.resolve().parent / spec.path)
        if not file.is_file():
            problems.append(f"artifact.path: {_not_a_file(file)} (relative to the manifest's folder)")
        elif (got := sha256_file(file)) != want:
            problems.append(
                f"artifact.sha256: {want[:12]}… is not the sha256 of {file.resolve()}, which is {got[:12]}…: "
                "correct artifact.sha256 or rebuild the artifact"
            )
        else:
            done.append("the artifact's sha256")
    else:
        cached = project.root / config.artifacts.cache_dir / f"{want}.artifact"
        if not cached.is_file():
            result.notes.append(
                "artifact.url: not downloaded yet, so its sha256 is not checked (relkit gates and relkit "
                f"deploy download it into {config.artifacts.cache_dir} and check it)"
            )
        elif sha256_file(cached) != want:
            problems.append(f"artifact.sha256: the download of artifact.url ({cached}) has another sha256")
        else:
            done.append("the downloaded artifact's sha256")
    if problems:
        raise BadInput(f"{path}: does not fit the project {project.root}", problems)
    result.checked += done
