"""Title parsing: the rule tables on real-looking titles, and SQL/Python agreement.

The SQL and the Python parser share the rule tables but not the regex engine (RE2 in
DuckDB, ``re`` in Python), so agreement is tested on the labelled titles and on
random text rather than assumed.
"""

from __future__ import annotations

import random
import string

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.titles import (
    FUNCTION_LABELS,
    FUNCTION_RULES,
    SENIORITY_LABELS,
    SENIORITY_RULES,
    normalise_title,
    normalised_sql,
    parse_title,
    title_sql,
)

# (title as typed, seniority, function)
CASES: list[tuple[str | None, str, str]] = [
    # examples from the spec
    ("VP Marketing", "vp", "marketing"),
    ("Director of Sales Ops", "director", "sales"),
    ("Sr. Data Analyst", "senior_ic", "data"),
    ("Head of Growth", "director", "marketing"),
    ("Founder & CEO", "c_level", "executive"),
    ("Owner", "c_level", "executive"),
    ("student", "student", "unknown"),
    ("intern", "student", "unknown"),
    ("MBA candidate", "student", "unknown"),
    ("vice president, demand gen", "vp", "marketing"),
    ("CFO", "c_level", "finance"),
    ("CTO", "c_level", "engineering"),
    ("CEO", "c_level", "executive"),
    ("RevOps manager", "manager", "operations"),
    # missing and junk
    (None, "unknown", "unknown"),
    ("", "unknown", "unknown"),
    ("   ", "unknown", "unknown"),
    ("n/a", "unknown", "unknown"),
    ("N/A", "unknown", "unknown"),
    ("-", "unknown", "unknown"),
    ("asdf", "unknown", "unknown"),
    ("test", "unknown", "unknown"),
    ("x", "unknown", "unknown"),
    ("bot", "unknown", "unknown"),
    ("none", "unknown", "unknown"),
    ("...", "unknown", "unknown"),
    # c-level and general management
    ("Co-Founder", "c_level", "executive"),
    ("cofounder / CTO", "c_level", "engineering"),
    ("President & CEO", "c_level", "executive"),
    ("President", "c_level", "executive"),
    ("Chief Marketing Officer", "c_level", "marketing"),
    ("CMO", "c_level", "marketing"),
    ("CRO", "c_level", "sales"),
    ("Chief Revenue Officer", "c_level", "sales"),
    ("CIO", "c_level", "it"),
    ("CISO", "c_level", "it"),
    ("CDO", "c_level", "data"),
    ("COO", "c_level", "operations"),
    ("Chief Operating Officer", "c_level", "operations"),
    ("Managing Director", "c_level", "executive"),
    ("Geschäftsführer", "c_level", "executive"),
    ("Directeur Général", "c_level", "executive"),
    ("Business Owner", "c_level", "executive"),
    ("Partner", "c_level", "executive"),
    ("Managing Partner", "c_level", "executive"),
    ("Board Member", "c_level", "executive"),
    ("Chief of Staff", "director", "executive"),
    ("Executive Assistant to the CEO", "ic", "other"),
    ("General Manager", "director", "executive"),
    # vp
    ("SVP, Engineering", "vp", "engineering"),
    ("EVP & CMO", "c_level", "marketing"),
    ("V.P. Sales", "vp", "sales"),
    ("Vise President Sales", "vp", "sales"),
    ("Vice-President, Finance", "vp", "finance"),
    ("Vice President", "vp", "unknown"),
    ("VP", "vp", "unknown"),
    ("vp of it", "vp", "it"),
    ("AVP Data & Analytics", "vp", "data"),
    ("Vicepresidente de Ventas", "vp", "sales"),
    ("VP & GM", "vp", "executive"),
    # director / head
    ("Direktor Vertrieb", "director", "sales"),
    ("Directeur Marketing", "director", "marketing"),
    ("Directora de Marketing", "director", "marketing"),
    ("Sr. Dir., Product Mgmt", "director", "engineering"),
    ("Dirctor of IT", "director", "it"),
    ("IT Director", "director", "it"),
    ("Head of Data", "director", "data"),
    ("Global Head of HR", "director", "hr"),
    ("Leiter Marketing", "director", "marketing"),
    ("Direttore Vendite", "director", "sales"),
    ("Director de Tecnología", "director", "it"),
    ("Executive Director", "director", "executive"),
    ("Associate Director, FP&A", "director", "finance"),
    # manager
    ("Marketing Manager", "manager", "marketing"),
    ("Maketing Manger", "manager", "marketing"),
    ("Mgr, Mktg Ops", "manager", "marketing"),
    ("Sales Ops Mgr", "manager", "sales"),
    ("Gerente de Ventas", "manager", "sales"),
    ("Gerente de TI", "manager", "it"),
    ("Teamleiter Vertrieb", "manager", "sales"),
    ("Responsable Marketing", "manager", "marketing"),
    ("Engineering Manager", "manager", "engineering"),
    ("Eng Mgr", "manager", "engineering"),
    ("Product Manager", "manager", "engineering"),
    ("Project Manager", "manager", "operations"),
    ("Office Manager", "manager", "operations"),
    ("Account Manager", "manager", "sales"),
    ("Key Accounts Manager", "manager", "sales"),
    ("HR Manager", "manager", "hr"),
    ("Customer Success Manager", "manager", "other"),
    ("Team Lead, Support", "manager", "other"),
    ("Financial Controller", "manager", "finance"),
    ("Manager", "manager", "unknown"),
    ("Assistant Manager", "manager", "unknown"),
    ("Revenue Operations Manager", "manager", "operations"),
    # senior individual contributors
    ("Senior Software Engineer", "senior_ic", "engineering"),
    ("Snr Software Engineer", "senior_ic", "engineering"),
    ("Sr Eng", "senior_ic", "engineering"),
    ("Sr. AE", "senior_ic", "sales"),
    ("Staff Engineer", "senior_ic", "engineering"),
    ("Principal Consultant", "senior_ic", "other"),
    ("Tech Lead", "senior_ic", "engineering"),
    ("Lead Developer", "senior_ic", "engineering"),
    ("Growth Lead", "senior_ic", "marketing"),
    ("Solutions Architect", "senior_ic", "engineering"),
    ("Senior Marketing Specialist", "senior_ic", "marketing"),
    # individual contributors
    ("Data analist", "ic", "data"),
    ("Analyst", "ic", "data"),
    ("Business Analyst", "ic", "data"),
    ("Financial Analyst", "ic", "finance"),
    ("Marketing Analyst", "ic", "marketing"),
    ("Data Scientist", "ic", "data"),
    ("Data Engineer", "ic", "data"),
    ("ML Engineer", "ic", "data"),
    ("Software Engineer", "ic", "engineering"),
    ("Software Enginer", "ic", "engineering"),
    ("Ingeniero de Software", "ic", "engineering"),
    ("Développeur", "ic", "engineering"),
    ("BDR", "ic", "sales"),
    ("SDR", "ic", "sales"),
    ("AE", "ic", "sales"),
    ("Account Executive", "ic", "sales"),
    ("Sales Engineer", "ic", "sales"),
    ("Lead Generation Specialist", "ic", "marketing"),
    ("Demand Gen Specialist", "ic", "marketing"),
    ("Content Writer", "ic", "marketing"),
    ("Recruiter", "ic", "hr"),
    ("Talent Acquisition Specialist", "ic", "hr"),
    ("Accountant", "ic", "finance"),
    ("Accounts Assistant", "ic", "finance"),
    ("Revenue Accountant", "ic", "finance"),
    ("Network Engineer", "ic", "it"),
    ("Systems Administrator", "ic", "it"),
    ("Help Desk Technician", "ic", "it"),
    ("Operations Coordinator", "ic", "operations"),
    ("Product Owner", "ic", "engineering"),
    ("Lawyer", "ic", "other"),
    ("Consultant", "ic", "other"),
    ("Marketing Executive", "ic", "marketing"),
    ("Digital Marketing Exec", "ic", "marketing"),
    # students
    ("Marketing Intern", "student", "marketing"),
    ("Data Analyst Intern", "student", "data"),
    ("Software Engineering Intern", "student", "engineering"),
    ("PhD Student", "student", "unknown"),
    ("Werkstudent Marketing", "student", "marketing"),
    ("Estudiante", "student", "unknown"),
    ("Master's Candidate", "student", "unknown"),
    # function only
    ("Marketing", "unknown", "marketing"),
    ("sales", "unknown", "sales"),
    ("IT", "unknown", "it"),
    ("I.T.", "unknown", "it"),
    # noise in the typing
    ("  vp   MARKETING  ", "vp", "marketing"),
    ("VP-Marketing", "vp", "marketing"),
    ("vp\u00a0marketing", "vp", "marketing"),
    ("Director\tof\nSales", "director", "sales"),
    ("DIRECTOR, IT (EMEA)", "director", "it"),
    ("Mktg Dir.", "director", "marketing"),
]


@pytest.mark.parametrize(("title", "seniority", "function"), CASES, ids=[repr(c[0]) for c in CASES])
def test_parse_title(title, seniority, function):
    assert parse_title(title) == (seniority, function)


def test_enough_cases_and_labels_are_known():
    assert len(CASES) >= 60
    assert {s for _, s, _ in CASES} == set(SENIORITY_LABELS)
    assert {f for _, _, f in CASES} == set(FUNCTION_LABELS)


@pytest.mark.parametrize(
    ("rules", "labels"),
    [(SENIORITY_RULES, SENIORITY_LABELS), (FUNCTION_RULES, FUNCTION_LABELS)],
    ids=["seniority", "function"],
)
def test_rules_use_portable_regex_and_known_labels(rules, labels):
    for pattern, label in rules:
        assert label in labels, label
        # no backslashes (so no \b, \s, \d, back-references), no look-around
        assert "\\" not in pattern, pattern
        for construct in ("(?=", "(?!", "(?<", "(?P", "(?i"):
            assert construct not in pattern, pattern


@pytest.mark.parametrize(
    ("title", "normalised"),
    [
        (None, "  "),
        ("", "  "),
        ("  Sr. V.P.,  Sales/Mktg  ", " sr v p sales mktg "),
        ("Founder & CEO (acme)", " founder ceo acme "),
        ("R&D | Eng_Lead", " r d eng lead "),
        (float("nan"), "  "),
    ],
)
def test_normalise_title(title, normalised):
    assert normalise_title(title) == normalised


def _sql_labels(titles: list[str | None]) -> list[tuple[str, str]]:
    """Label every title in one DuckDB query, keeping the input order."""
    frame = pd.DataFrame({"idx": range(len(titles)), "title": pd.Series(titles, dtype=object)})
    seniority, function = title_sql("title")
    con = duckdb.connect()
    try:
        con.register("titles", frame)
        rows = con.execute(f"SELECT {seniority}, {function} FROM titles ORDER BY idx").fetchall()
    finally:
        con.close()
    return [tuple(row) for row in rows]


def test_sql_matches_python_on_labelled_titles():
    titles = [title for title, _, _ in CASES]
    assert _sql_labels(titles) == [parse_title(t) for t in titles]


def test_sql_matches_normalise_title():
    titles = [title for title, _, _ in CASES] + ["a\u2003b", "Ünïcödé  ÉQUIPE", "x\x0by\x0cz"]
    frame = pd.DataFrame({"idx": range(len(titles)), "title": pd.Series(titles, dtype=object)})
    con = duckdb.connect()
    try:
        con.register("titles", frame)
        rows = con.execute(f"SELECT {normalised_sql('title')} FROM titles ORDER BY idx").fetchall()
    finally:
        con.close()
    got = [row[0] for row in rows]
    assert got == [normalise_title(t) for t in titles]


def test_sql_runs_on_a_literal():
    seniority, function = title_sql("title")
    row = duckdb.connect().execute(
        f"SELECT {seniority}, {function} FROM (SELECT 'VP Marketing' AS title)"
    ).fetchall()
    assert row == [("vp", "marketing")]


# Random text: letters, accented letters, spaces and punctuation, plus fragments of
# real titles so that the rules fire often enough for agreement to mean something.
_ALPHABET = string.ascii_letters + "éèüöäñçÉÜ" + "  \t" + ".,/&-_()|:;!?'\"+*#@<>~{}[]"
_WORDS = sorted({w for title, _, _ in CASES if title for w in normalise_title(title).split()})


def _random_title(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 5)):
        if rng.random() < 0.6:
            word = rng.choice(_WORDS)
            parts.append(word.upper() if rng.random() < 0.3 else word)
        else:
            parts.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 8))))
        parts.append(rng.choice([" ", " ", ", ", "/", " & ", "-", ".", "  "]))
    return "".join(parts)


def test_sql_matches_python_on_random_text():
    rng = random.Random(0)
    titles = [_random_title(rng) for _ in range(500)]
    python = [parse_title(t) for t in titles]
    assert _sql_labels(titles) == python
    # the sample exercises most labels, so agreement is not vacuous
    assert len({s for s, _ in python}) >= 6
    assert len({f for _, f in python}) >= 8


@settings(max_examples=20, deadline=None)
@given(st.lists(st.text(alphabet=_ALPHABET, max_size=40), min_size=1, max_size=25))
def test_sql_matches_python_on_generated_text(titles):
    assert _sql_labels(titles) == [parse_title(t) for t in titles]


@settings(max_examples=300)
@given(st.text())
def test_parse_title_never_raises(text):
    seniority, function = parse_title(text)
    assert seniority in SENIORITY_LABELS
    assert function in FUNCTION_LABELS


@settings(max_examples=300)
@given(st.text(alphabet=string.ascii_letters + " .,/&-_()|", max_size=60))
def test_parse_title_ignores_case(text):
    assert parse_title(text) == parse_title(text.upper()) == parse_title(text.lower())


@pytest.mark.parametrize("value", [123, 4.5, True, b"VP", object()])
def test_parse_title_accepts_non_strings(value):
    seniority, function = parse_title(value)
    assert seniority in SENIORITY_LABELS and function in FUNCTION_LABELS
