"""The verification report people open: header, fidelity and coverage per type, the
items that do not match with their reasons, the types no plugin serves (HTML and
Markdown carry the same)."""

from __future__ import annotations

from collections import Counter

from atg_dataplane.coverage import Coverage
from atg_dataplane.models import ReplicationMode
from atg_dataplane.report import to_html, to_markdown
from atg_dataplane.verify import ItemVerdict, VerifyReport

KV = "Microsoft.KeyVault/vaults"
RID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv-src"


def _report() -> VerifyReport:
    report = VerifyReport(
        mode=ReplicationMode.REPLICATION,
        keep_matching=False,
        context={
            "date": "2026-12-06 09:00:00 UTC",
            "run_id": "run-42",
            "tool": "atg-dataplane 9.9",
            "plugins": ["keyvault (atg-dataplane-keyvault 1.2)"],
            "source": {"tenant_id": "t-src", "subscription_id": "s-src"},
            "target": {"tenant_id": "t-tgt", "subscription_id": "s-tgt"},
        },
        coverage=Coverage(
            served=Counter({KV: 1}),
            unserved=Counter({"Microsoft.DocumentDB/databaseAccounts": 2}),
        ),
    )
    report.add(ItemVerdict(RID, KV, "secret", "a", "matching"))
    report.add(ItemVerdict(RID, KV, "secret", "b", "missing", "not found in the target"))
    report.add(ItemVerdict(RID, KV, "key", "k", "not_copyable", "import the key material"))
    return report


def test_both_formats_carry_the_header_figures_and_items() -> None:
    report = _report()
    for text in (to_html(report), to_markdown(report)):
        for expected in (
            "2026-12-06 09:00:00 UTC",
            "run-42",
            "atg-dataplane 9.9",
            "atg-dataplane-keyvault 1.2",
            "t-src",
            "s-tgt",
            "replication",
            "Fidelity 50.00 %",
            "Coverage 33.33 %",
            "not found in the target",
            "import the key material",
            "pip install atg-dataplane-cosmosdb",
        ):
            assert expected in text, expected


def test_the_html_has_a_chart_and_a_filter_and_fetches_nothing() -> None:
    page = to_html(_report())
    assert "class='bar'" in page and "width:50%" in page  # fidelity of the vault type
    assert "id='q'" in page and "oninput='f()'" in page  # the filter over the items
    assert "data-status='missing'" in page
    assert "http://" not in page and "https://" not in page and " src=" not in page
