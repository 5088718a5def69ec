from atg_dataplane.testing import PluginConformance


class TestConformance(PluginConformance):
    entry_point_name = "cosmosdb"
    distribution = "atg-dataplane-cosmosdb"
