from atg_dataplane.testing import PluginConformance


class TestConformance(PluginConformance):
    entry_point_name = "sql"
    distribution = "atg-dataplane-sql"
