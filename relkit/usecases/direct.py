"""What relkit checks of a play run without the relkit CLI (plain ``ansible-playbook``, an AWX job)
before its first host acts: the manifest it names and the hosts it acts on.

The relkit CLI picks both itself (the manifest given on its command line, the environment's
inventory from relkit.yml). A play run directly gets them from its extra vars (an AWX survey's
answers) and its inventory (the AWX job template's): relkit's play-side checks (the
``relkit_gate`` and ``relkit_act`` action plugins) call these so that gates checked for one
environment never open a play on another's hosts, and a survey's manifest answer never reaches
outside the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from relkit.errors import BadInput
from relkit.project import Project


def play_manifest(project: Project, given: str) -> Path:
    """The manifest a direct play names: an absolute path as it is; a relative one (an AWX survey's
    answer) is taken in the project's directory and must stay there (no ``..`` out of it, no
    symlink out of it), else :class:`BadInput`."""
    text = str(given).strip()
    if not text:
        raise BadInput("relkit_manifest: no manifest named")
    path = Path(text)
    if path.is_absolute():
        return path.resolve()
    root = project.root.resolve()
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise BadInput(
            f"relkit_manifest: {text!r} leads outside the project ({root}): a relative manifest path "
            "names a file in the project's directory (e.g. releases/2.0.0.yml); nothing was changed"
        )
    return resolved


def environment_hosts(project: Project, env: str) -> set[str]:
    """The host names of ``env``'s inventory (relkit.yml), read by Ansible's own inventory code
    (call it from an Ansible process: a plugin)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    inventory = InventoryManager(loader=DataLoader(), sources=[str(project.inventory(env))])
    return {host.name for host in inventory.get_hosts()}


def foreign_hosts(project: Project, env: str, play_hosts: Iterable[str]) -> None:
    """:class:`BadInput` when the play acts on a host that ``env``'s inventory does not name: the
    gates, the signature and the lock are ``env``'s, so a play on other hosts (an AWX job launched
    with another environment's inventory) must not start."""
    known = environment_hosts(project, env)
    foreign = sorted(set(play_hosts) - known)
    if foreign:
        raise BadInput(
            f"relkit_env={env}, but the play's inventory has hosts that {env}'s inventory "
            f"({project.environment(env).inventory}) does not name: {', '.join(foreign)}. Run the play "
            f"with {env}'s inventory (in AWX: the job's inventory must be {env}'s); nothing was changed"
        )
