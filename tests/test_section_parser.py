"""MIMIC-CXR report sectioning follows the official parser's rules."""

from imax_hub.sources.reports import extract_sections, normalize_section_name, section_text

HEAD = " " * 33 + "FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n INDICATION:  ___ year old woman.\n \n"


def test_findings_and_impression():
    text = HEAD + " FINDINGS:\n \n Lungs are clear.\n Heart size is\n normal.\n \n IMPRESSION:  No acute process.\n"
    s = extract_sections("s50000001", text)
    assert s["findings"] == "Lungs are clear. Heart size is normal."
    assert s["impression"] == "No acute process."
    assert s["conclusion"] == "No acute process."
    assert s["last_paragraph"] is None


def test_whitespace_kept_when_asked():
    text = HEAD + " FINDINGS:\n \n Lungs are clear.\n Heart normal.\n"
    s = extract_sections("s50000001", text, collapse_whitespace=False)
    assert s["findings"] == "Lungs are clear.\n Heart normal."


def test_no_header_falls_back_to_last_paragraph():
    text = HEAD + " COMPARISON:  ___.\n \n The lungs are clear.\n \n No effusion.\n"
    sections, names = section_text(text)
    assert names[-1] == "last_paragraph"
    s = extract_sections("s50000002", text)
    assert s["findings"] is None and s["impression"] is None
    assert s["comparison"] == "___."
    assert s["last_paragraph"] == "The lungs are clear. No effusion."
    assert s["conclusion"] == s["last_paragraph"]


def test_text_without_any_header_is_full_report():
    sections, names = section_text("no headers here")
    assert names == ["full report"]


def test_name_normalisation():
    assert normalize_section_name("FINDINGS AND IMPRESSION") == "impression"
    assert normalize_section_name("IMPRESSON") == "impression"
    assert normalize_section_name("CONCLUSION") == "impression"
    assert normalize_section_name("PA AND LATERAL VIEWS OF THE CHEST") == "findings"
    assert normalize_section_name("FINAL ADDENDUM NOTE") == "addendum"
    assert normalize_section_name("INDICATION") == "indication"


def test_empty_findings_dropped_and_last_occurrence_kept():
    text = HEAD + " FINDINGS:\n \n IMPRESSION:  First.\n \n IMPRESSION:  Second.\n"
    sections, names = section_text(text)
    assert "findings" not in names
    assert extract_sections("s50000003", text)["impression"] == "Second."


def test_header_search_skips_rest_of_header_line():
    # "NOTE: X:" on the header's own line must not open another section
    text = HEAD + " IMPRESSION:  See NOTE: below.\n ADDENDUM:  Called.\n"
    sections, names = section_text(text)
    assert names[-2:] == ["impression", "addendum"]


def test_special_cased_studies():
    text = "x" * 59 + "THE SLICE" + "y" * 400
    assert extract_sections("s50196495", text)["conclusion"].startswith("THE SLICE")  # official slice 59:399
    assert extract_sections("s58235663", text)["conclusion"] is None  # [0, 0]: no usable text
    custom = HEAD + " RECOMMENDATION(S):  Follow up.\n"
    assert extract_sections("s50913680", custom)["conclusion"] == "Follow up."
