"""The plugin author kit: a conformance suite and pytest fixtures.

Every plugin package's tests subclass :class:`PluginConformance`::

    from atg_dataplane.testing import PluginConformance

    class TestConformance(PluginConformance):
        entry_point_name = "keyvault"
        distribution = "atg-dataplane-keyvault"
"""

from atg_dataplane.testing.conformance import PluginConformance
from atg_dataplane.testing.recorder import ProgressRecorder

__all__ = ["PluginConformance", "ProgressRecorder"]
