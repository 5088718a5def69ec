from atg_dataplane.testing import PluginConformance


class TestConformance(PluginConformance):
    entry_point_name = "compute"
    distribution = "atg-dataplane-compute"
