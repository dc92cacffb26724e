#!/usr/bin/env python3
"""Build reproducible webapp artifacts: dist/webapp-<version>.tar.gz for each versions/<version>/.

An artifact is webapp/src/ with the version's layers laid over it, at the archive root. A version
whose release.json has ``"base": "<version>"`` gets that version's files first. Entries are sorted
and carry fixed metadata (mtime 0, uid/gid 0, no owner names, 0644/0755), and the gzip header has
no name or time, so the same sources always give byte-identical artifacts.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEBAPP = HERE / "webapp"
SRC = WEBAPP / "src"
VERSIONS = WEBAPP / "versions"
DIST = WEBAPP / "dist"
SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".swp"}
SHA_LINE = re.compile(
    r"^(?P<pre>\s+sha256:[ \t]*)(?P<q>[\"']?)(?P<value>[^\"'\s#]*)(?P=q)(?P<post>\s*(?:#.*)?)$"
)


def version_key(version: str) -> tuple[object, ...]:
    """Natural sort key: 1.10.0 after 1.9.0."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version))


def versions() -> list[str]:
    """Every version directory, in version order."""
    return sorted((p.name for p in VERSIONS.iterdir() if p.is_dir()), key=version_key)


def layers(version: str) -> list[Path]:
    """Directories overlaid to make ``version``: src, then its bases oldest first, then itself."""
    chain: list[Path] = []
    while version:
        vdir = VERSIONS / version
        if vdir in chain or not vdir.is_dir():
            raise SystemExit(f"bad base chain at {version!r}")
        meta = json.loads((vdir / "release.json").read_text(encoding="utf-8"))
        declared = (vdir / "VERSION").read_text(encoding="utf-8").strip()
        if not chain and not (declared == meta.get("version") == version):
            raise SystemExit(f"{vdir}: VERSION, release.json and directory name disagree")
        chain.append(vdir)
        version = meta.get("base", "")
    return [SRC, *reversed(chain)]


def collect(version: str) -> dict[str, Path]:
    """Archive name -> source file; later layers win."""
    files: dict[str, Path] = {}
    for layer in layers(version):
        for path in layer.rglob("*"):
            rel = path.relative_to(layer)
            if (
                path.is_file()
                and not SKIP_DIRS & set(rel.parts)
                and path.suffix not in SKIP_SUFFIXES
            ):
                files[rel.as_posix()] = path
    return files


def _info(name: str, *, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def archive(files: dict[str, Path]) -> bytes:
    """The .tar.gz bytes for ``files``, reproducibly."""
    dirs = {parent for name in files for parent in map(str, Path(name).parents) if parent != "."}
    buf = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name in sorted(dirs | files.keys()):
            if name in dirs:
                tar.addfile(_info(name, is_dir=True))
            else:
                data = files[name].read_bytes()
                tar.addfile(_info(name, is_dir=False, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def build(version: str, out: Path) -> tuple[Path, str]:
    """Write ``out/webapp-<version>.tar.gz`` atomically; return its path and sha256."""
    data = archive(collect(version))
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"webapp-{version}.tar.gz"
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target, hashlib.sha256(data).hexdigest()


def find_sha256(lines: list[str]) -> int | None:
    """Index of the ``sha256:`` line directly inside the top-level-ish ``artifact:`` block."""
    block_indent: int | None = None
    for i, line in enumerate(lines):
        text = line.rstrip("\r\n")
        stripped = text.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(text) - len(stripped)
        if block_indent is not None:
            if indent <= block_indent:
                block_indent = None
            elif SHA_LINE.match(text):
                return i
        if re.fullmatch(r"artifact:\s*(#.*)?", stripped):
            block_indent = indent
    return None


def manifests(built: dict[str, str], directory: Path, *, update: bool) -> list[str]:
    """Check (or rewrite) ``artifact.sha256`` in ``directory/releases/<version>.yml``; problems."""
    problems: list[str] = []
    seen = 0
    for version, digest in built.items():
        path = directory / "releases" / f"{version}.yml"
        if not path.is_file():
            print(f"  {path}: no manifest, skipped", file=sys.stderr)
            continue
        seen += 1
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        index = find_sha256(lines)
        if index is None:
            problems.append(f"{path}: no 'sha256:' line under 'artifact:'")
            continue
        line = lines[index]
        body = line.rstrip("\r\n")
        match = SHA_LINE.match(body)
        assert match is not None
        if match["value"] == digest:
            print(f"  {path}: sha256 ok")
        elif update:
            new = f"{match['pre']}{match['q']}{digest}{match['q']}{match['post']}"
            lines[index] = new + line[len(body) :]
            path.write_text("".join(lines), encoding="utf-8")
            print(f"  {path}: sha256 updated {match['value'] or '(empty)'} -> {digest}")
        else:
            problems.append(f"{path}: sha256 {match['value'] or '(empty)'} != built {digest}")
    if not seen:
        problems.append(
            f"no releases/<version>.yml manifests for {', '.join(built)} in {directory}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Build every version; optionally check or update release manifests."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DIST, help="output directory (default: %(default)s)")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--check-manifests",
        type=Path,
        metavar="DIR",
        help="exit 1 unless DIR/releases/<version>.yml artifact.sha256 match the builds",
    )
    group.add_argument(
        "--update-manifests",
        type=Path,
        metavar="DIR",
        help="rewrite the artifact.sha256 value in DIR/releases/<version>.yml",
    )
    args = p.parse_args(argv)

    built: dict[str, str] = {}
    for version in versions():
        path, digest = build(version, args.out)
        built[version] = digest
        print(f"{digest}  {path}")

    directory = args.check_manifests or args.update_manifests
    if directory is None:
        return 0
    problems = manifests(built, directory, update=args.update_manifests is not None)
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
