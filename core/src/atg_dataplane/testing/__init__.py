"""The plugin author kit: a conformance suite, pytest fixtures and :class:`PairRun` (one
pair through the real engine and verifier).

Every plugin package's tests subclass :class:`PluginConformance`::

    from atg_dataplane.testing import PluginConformance

    class TestConformance(PluginConformance):
        entry_point_name = "keyvault"
        distribution = "atg-dataplane-keyvault"
"""

from atg_dataplane.testing.checkpoints import Killed, KilledAfter
from atg_dataplane.testing.conformance import PluginConformance
from atg_dataplane.testing.offline import offline_binding
from atg_dataplane.testing.pair import PairRun
from atg_dataplane.testing.recorder import ProgressRecorder
from atg_dataplane.testing.wire import AnswersLost

__all__ = [
    "AnswersLost",
    "Killed",
    "KilledAfter",
    "PairRun",
    "PluginConformance",
    "ProgressRecorder",
    "offline_binding",
]
