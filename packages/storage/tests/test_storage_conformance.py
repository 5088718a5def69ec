from atg_dataplane.testing import PluginConformance


class TestConformance(PluginConformance):
    entry_point_name = "storage"
    distribution = "atg-dataplane-storage"
