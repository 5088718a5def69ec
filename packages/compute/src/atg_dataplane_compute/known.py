"""What the plugin knows before it asks Azure. Imported when the plugins load, so nothing
here imports an SDK (``plugin.py`` defers the modules that do)."""

from __future__ import annotations

NEEDS_PROTECTED = (
    "Microsoft.Azure.Extensions.CustomScript",
    "Microsoft.Compute.CustomScriptExtension",
    "Microsoft.Compute.JsonADDomainExtension",
    "Microsoft.Azure.Security.AzureDiskEncryption",
    "Microsoft.Azure.Security.AzureDiskEncryptionForLinux",
)
"""``Publisher.Type`` of extensions whose working settings are protected ones."""
