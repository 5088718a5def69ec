from atg_dataplane.testing import PluginConformance


class TestConformance(PluginConformance):
    entry_point_name = "appservice"
    distribution = "atg-dataplane-appservice"
