def test_small_report_has_entries(standard_small_report):
    assert standard_small_report.entry_count == 4
