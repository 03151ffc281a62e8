"""Free-text job titles as people type them, for the simulator.

Titles are rendered from (seniority, function) with the variety of real form fills:
abbreviations, word order, case, stray punctuation and a few typos, so that the
title parser is exercised on the same mess it meets in production.
"""

from __future__ import annotations

import numpy as np

# the simulated people's seniority levels and job functions (features/simulate.py gives their shares and effects)
SENIORITIES = ("c_level", "vp", "director", "manager", "senior_ic", "ic", "student")
FUNCTIONS = ("marketing", "sales", "operations", "data", "it", "finance", "hr", "other")

_FUNCTION_WORDS = {
    "marketing": ["Marketing", "Demand Gen", "Growth Marketing", "Mktg", "Digital Marketing", "Product Marketing",
                  "Marketing Ops", "Brand", "Content Marketing"],
    "sales": ["Sales", "Business Development", "Revenue", "Inside Sales", "Sales Ops", "Partnerships"],
    "operations": ["Operations", "Ops", "RevOps", "Revenue Operations", "Business Operations"],
    "data": ["Data", "Analytics", "Business Intelligence", "Data Science", "BI"],
    "it": ["IT", "Information Technology", "Infrastructure", "IT Systems"],
    "finance": ["Finance", "FP&A", "Accounting", "Procurement"],
    "hr": ["HR", "People", "Talent Acquisition", "Human Resources"],
    "other": ["Customer Success", "Legal", "Design", "Support", "Product"],
}
_C_LEVEL = {"marketing": ["CMO", "Chief Marketing Officer"], "sales": ["CRO", "Chief Revenue Officer"],
            "operations": ["COO", "Chief Operating Officer"], "data": ["CDO", "Chief Data Officer"],
            "it": ["CIO", "CTO", "Chief Information Officer"], "finance": ["CFO", "Chief Financial Officer"],
            "hr": ["CHRO", "Chief People Officer"], "other": ["CEO", "Founder & CEO", "Owner", "Co-founder", "President"]}
_PATTERNS = {
    "vp": ["VP {f}", "VP of {f}", "Vice President, {f}", "vice president {f}", "SVP {f}", "EVP, {f}", "V.P. {f}"],
    "director": ["Director of {f}", "{f} Director", "Dir. {f}", "Head of {f}", "Sr. Director, {f}", "Global Head of {f}"],
    "manager": ["{f} Manager", "Manager, {f}", "{f} Mgr", "Sr. {f} Manager", "{f} Team Lead", "Manager - {f}"],
    "senior_ic": ["Senior {f} Specialist", "Sr. {f} Analyst", "Lead {f} Specialist", "Senior {f} Consultant",
                  "Principal {f} Analyst"],
    "ic": ["{f} Specialist", "{f} Coordinator", "{f} Analyst", "{f} Associate", "{f} Executive", "{f} Representative"],
}
_SPECIFIC_IC = {"sales": ["SDR", "BDR", "Account Executive", "AE"], "data": ["Data Analyst", "data analist"],
                "it": ["Systems Administrator", "IT support"], "finance": ["Accountant"]}
_STUDENT = ["student", "Student", "MBA candidate", "Marketing Intern", "intern", "PhD student", "graduate student"]
_TYPOS = {"Marketing": "Maketing", "Manager": "Manger", "Director": "Direktor", "Vice President": "Vise President",
          "Analyst": "Analist", "Operations": "Opperations", "Senior": "Senoir"}


def render_titles(rng: np.random.Generator, seniority: np.ndarray, function: np.ndarray) -> np.ndarray:
    """One title per lead; ``seniority`` and ``function`` index the simulator's SENIORITIES and FUNCTIONS."""
    out = np.empty(len(seniority), dtype=object)
    for s, level in enumerate(SENIORITIES):
        for f, func in enumerate(FUNCTIONS):
            idx = np.flatnonzero((seniority == s) & (function == f))
            if not len(idx):
                continue
            options = _options(level, func)
            out[idx] = np.array(options, dtype=object)[rng.integers(0, len(options), len(idx))]
    styled = rng.random(len(out))
    for i in np.flatnonzero(styled < 0.10):
        out[i] = out[i].lower()
    for i in np.flatnonzero((styled >= 0.10) & (styled < 0.13)):
        out[i] = out[i].upper()
    for i in np.flatnonzero((styled >= 0.13) & (styled < 0.17)):
        for right, wrong in _TYPOS.items():
            if right in out[i]:
                out[i] = out[i].replace(right, wrong, 1)
                break
    for i in np.flatnonzero((styled >= 0.17) & (styled < 0.19)):
        out[i] = f" {out[i]}  "
    return out.astype(str)


def _options(level: str, func: str) -> list[str]:
    if level == "student":
        return _STUDENT
    if level == "c_level":
        return _C_LEVEL[func]
    words = _FUNCTION_WORDS[func]
    options = [pattern.format(f=word) for pattern in _PATTERNS[level] for word in words]
    if level == "ic":
        options += _SPECIFIC_IC.get(func, []) * 3
    return options
