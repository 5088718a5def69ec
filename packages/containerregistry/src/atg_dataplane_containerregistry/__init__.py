"""atg-dataplane plugin for ``Microsoft.ContainerRegistry/registries``: every tag, digest,
untagged manifest and OCI referrer of a registry, copied server-side where Azure can."""

from atg_dataplane_containerregistry.__about__ import __version__

__all__ = ["__version__"]
