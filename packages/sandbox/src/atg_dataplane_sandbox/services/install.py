"""Which emulators are installed, the exact commands that install them, and installing them.

Node emulators go into a project cache directory with ``npm install --prefix``
(pinned versions); the OCI registry is Debian's ``docker-registry`` package.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from atg_dataplane_sandbox.services.layout import cache_dir

NPM_PACKAGES = {"azurite": "3.35.0", "@vercel/cosmosdb-server": "1.0.1"}
"""Pinned npm packages: name -> version."""

APT_PACKAGE = "docker-registry"
REGISTRY_BINARIES = ("docker-registry", "registry")
REGISTRY_BIN_ENV = "ATG_DATAPLANE_REGISTRY_BIN"


@dataclass(frozen=True)
class MissingEmulator:
    name: str
    reason: str
    command: str
    """The exact shell command that installs it."""

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}; install with: {self.command}"


def npm_install_argv(cache: Path | None = None) -> list[str]:
    cache = cache or cache_dir()
    specs = [f"{name}@{version}" for name, version in NPM_PACKAGES.items()]
    return ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", *specs]


def apt_install_command(root: bool | None = None) -> str:
    root = os.geteuid() == 0 if root is None else root
    sudo = "" if root else "sudo "
    return f"{sudo}apt-get update && {sudo}apt-get install -y {APT_PACKAGE}"


def node_module_dir(package: str, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "node_modules" / package


def installed_npm_version(package: str, cache: Path | None = None) -> str | None:
    try:
        meta = json.loads((node_module_dir(package, cache) / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return str(meta.get("version"))


def node_binary() -> str | None:
    return shutil.which("node")


def registry_binary() -> str | None:
    override = os.environ.get(REGISTRY_BIN_ENV)
    if override:
        return override if Path(override).is_file() else None
    for name in REGISTRY_BINARIES:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None
        )
        if found:
            return found
    return None


def missing_emulators(cache: Path | None = None) -> list[MissingEmulator]:
    """Everything ``sandbox up`` needs but cannot find, each with its install command."""
    missing: list[MissingEmulator] = []
    npm_cmd = "atg-dataplane sandbox install  (or: " + shlex.join(npm_install_argv(cache)) + ")"
    if node_binary() is None:
        missing.append(MissingEmulator("node", "Node.js 20+ is not on PATH",
                                       "apt-get install -y nodejs npm"))
    for package, version in NPM_PACKAGES.items():
        found = installed_npm_version(package, cache)
        if found is None:
            missing.append(MissingEmulator(
                package, f"not installed in {cache or cache_dir()}", npm_cmd))
        elif found != version:
            missing.append(MissingEmulator(
                package, f"version {found} installed, {version} needed", npm_cmd))
    if registry_binary() is None:
        missing.append(MissingEmulator(
            APT_PACKAGE, "the OCI registry binary is not on PATH", apt_install_command()))
    return missing


def install_npm(cache: Path | None = None) -> None:
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(npm_install_argv(cache), check=True, cwd=cache)


def install_registry() -> None:
    """apt-get install docker-registry (root only), then stop the service the package starts."""
    subprocess.run(["apt-get", "update", "-q"], check=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", APT_PACKAGE], check=True, env=env)
    stop_distro_service()


def stop_distro_service() -> None:
    """Stop and disable the Debian service so no stray registry keeps port 5000."""
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "--now", APT_PACKAGE], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif Path(f"/etc/init.d/{APT_PACKAGE}").exists():
        subprocess.run([f"/etc/init.d/{APT_PACKAGE}", "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
