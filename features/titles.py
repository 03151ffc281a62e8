"""Job titles, as typed into web forms, reduced to a seniority and a function.

A lead's title is the best signal we have of whether the person can buy (seniority)
and whether they are the kind of buyer we sell to (function), but it arrives as free
text: abbreviated, misspelt, in several languages, or junk. The rules live here as two
ordered tables of ``(pattern, label)`` so that the same rules can run in Python (one
title at a time, e.g. when scoring a single lead) and in SQL over whole tables
(DuckDB here; the patterns are also valid Java regex for Spark). Keeping one copy of
the rules is what stops the online and the batch features drifting apart.

How a table is read: the title is normalised (see :func:`normalise_title`), then the
patterns are tried in order and the first match gives the label; no match gives
``unknown``. Rules for more specific phrases come before the generic words they
contain (``executive assistant`` before ``executive``; ``vice president`` before
``president``), which is why a label may appear more than once in a table.

Pattern dialect, so one string means the same in Python ``re``, RE2 (DuckDB) and Java
(Spark): words are delimited by the single spaces the normalised title is padded and
collapsed with (never ``\\b``); no look-around, no back-references, no backslashes at
all; non-capturing groups ``(?:...)``, classes, ``?``, ``*``, ``+`` and the anchors
``^``/``$`` only. ``tests/unit/features/test_titles.py`` checks this and that the SQL
and Python agree.

Decisions on ambiguous titles (one label each, so that features are stable):

* CTO -> ``engineering``: at the software companies we sell to the CTO runs
  engineering; IT (infrastructure, help desk, security) reports to a CIO/CISO -> ``it``.
* RevOps / revenue operations -> ``operations``: it serves marketing, sales and
  customer success alike, so no single go-to-market function owns it. A named
  function wins over "ops", though: "Sales Ops" -> ``sales``, "Marketing Ops" ->
  ``marketing`` (those people sit in, and buy for, that team).
* Data roles win over the team they serve: "Marketing Data Analyst", "Data
  Engineer" -> ``data`` (analytics buyers are a persona of their own). A bare
  "Analyst" with no other clue is ``data`` too; "Financial Analyst" stays ``finance``.
* Product (product manager, product owner, CPO aside) -> ``engineering``, the R&D
  organisation; there is no separate product function.
* Marketing is tried before sales, so "Sales & Marketing Director" -> ``marketing``.
* ``executive`` means general management (CEO, founder, owner, president, managing
  director, general manager); a VP or chief with a named function takes the function
  ("CFO" -> ``finance``), a bare "VP" has no function (``unknown``).
* ``other`` is a recognised function we do not model (legal, customer success,
  design, education, admin, consulting, ...); ``unknown`` means no function word was
  found at all ("Manager", "Student", "asdf").
* Seniority: "Head of" -> ``director``; founders, owners, partners, managing
  directors and board members -> ``c_level``; general managers -> ``director``;
  "Executive Assistant (to the CEO)" -> ``ic``; "Chief of Staff" -> ``director``;
  "Product Owner" -> ``ic``. Student markers are checked after manager but before
  the individual-contributor rules, because in "Data Analyst Intern" the intern
  qualifies the role (-> ``student``), while "Manager, Student Programs" is a manager.

Known differences between engines: Python lower-cases a few characters outside
Latin-1 differently from DuckDB (e.g. Turkish dotted capital I); no pattern is
affected in practice.
"""

from __future__ import annotations

import math
import re

SENIORITY_LABELS: tuple[str, ...] = (
    "c_level", "vp", "director", "manager", "senior_ic", "ic", "student", "unknown",
)
FUNCTION_LABELS: tuple[str, ...] = (
    "marketing", "sales", "it", "data", "engineering", "finance", "operations",
    "executive", "hr", "other", "unknown",
)

# Characters that separate words on web forms; each becomes a space. Shared verbatim
# by the Python and SQL normalisation (``-`` last so it is literal in every engine).
PUNCTUATION_PATTERN = r"""[.,/&_()|:;!?'"+*#@<>~{}\[\]-]"""
# Whitespace spelled out rather than ``\s``, whose meaning differs between Python
# (all Unicode spaces) and RE2 (ASCII only); the no-break space is common in pasted text.
WHITESPACE_PATTERN = r"[ \t\n\r\f\v\xa0]+"


def _w(*alternatives: str) -> str:
    """A whole-word alternation: `` (?:a|b) ``, relying on the space padding."""
    return " (?:" + "|".join(alternatives) + ") "


# Words meaning an assistant *to* someone senior; they must be seen before the
# senior word they contain.
_ASSISTANT_TO = _w(
    "executive assistant", "personal assistant", "administrative assistant",
    "admin assistant", "assistant to", "ea to", "pa to",
)
# "X owner" roles in agile and IT are individual contributors, not business owners.
_ROLE_OWNER = _w(
    "product owner", "process owner", "data owner", "service owner", "system owner",
    "content owner", "channel owner", "account owner",
)
_CXO = _w(
    "ceo", "cfo", "coo", "cto", "cio", "ciso", "cmo", "cro", "cdo", "cdao", "cpo", "cso",
    "cco", "cao", "chro", "cgo", "cxo", "c level", "c suite",
)
_CHIEF = _w("ch(?:ie|ei)fs?")
_FOUNDER_OWNER = _w(
    "(?:co)?founders?", "fundador(?:a|es)?", "fondat(?:eur|rice)", "gr(?:ü|ue|u)nder(?:in)?",
    "owners?", "inhaber(?:in)?", "proprietor", "propri[eé]taire", "entrepreneur",
)
_TOP_MANAGEMENT = _w(
    "managing director", "gesch(?:ä|ae|a)ftsf(?:ü|ue|u)hrer(?:in)?", "director general",
    "directeur g[eé]n[eé]ral", "directora general", "pdg",
    "chair(?:man|woman|person)?", "board member", "board of directors",
    "(?:managing|founding|senior|general|equity) partner",
)
_VICE_PRESIDENT = " vi[csz]e ?pr[eéä]s"
_PRESIDENT = _w("pr[eéä]sident(?:e|in)?")
_GENERAL_MANAGER = _w("general manager", "gm", "gerente general")

SENIORITY_RULES: tuple[tuple[str, str], ...] = (
    # Specific phrases that contain a more senior word than the role they name.
    (_ASSISTANT_TO, "ic"),
    (_w("chief of staff"), "director"),
    (_ROLE_OWNER, "ic"),
    # c_level
    (_CXO, "c_level"),
    (_CHIEF, "c_level"),
    (_FOUNDER_OWNER, "c_level"),
    (_TOP_MANAGEMENT, "c_level"),
    ("^ partner $", "c_level"),
    # vp; "vice president" must be seen before "president"
    (_w("vps?", "svp", "evp", "avp", "rvp", "gvp", "v p", "s v p", "e v p"), "vp"),
    (_VICE_PRESIDENT, "vp"),
    (_PRESIDENT, "c_level"),
    # director; the fuzzy word takes director, directeur, direktor, diretor, direttore,
    # directora, and typos such as dirctor / directer
    (_GENERAL_MANAGER, "director"),
    (_w("dir", "dire?[ck]?t?t(?:eu|o|e)r(?:s|a|as|e|es|in|innen)?", "directrice"), "director"),
    (_w("heads?", "(?:abteilungs|bereichs|gesamt)?leiter(?:in)?"), "director"),
    # manager; the fuzzy word takes manager, manger, managr, maneger, menager, mannager
    (_w(
        "m[ae]+n+[ae]?g+e*r+s?", "mgrs?", "mngr", "gerente", "g[eé]rant(?:e)?",
        "supervis(?:or|ora|eur)", "team ?lead(?:er)?s?", "[a-z]+leiter(?:in)?", "jef[ea]",
        "responsable", "controller", "comptroller", "csm",
    ), "manager"),
    # student, before the IC rules: "Data Analyst Intern" is an intern
    (_w(
        "students?", "interns?", "internship", "trainee", "apprentice", "apprenti(?:e)?",
        "werkstudent(?:in)?", "praktikant(?:in)?", "stagiaire", "stagista", "estudiante",
        "estudante", "[eé]tudiant(?:e)?", "becari[oa]", "pasante", "azubi",
        "auszubildender?", "undergrad(?:uate)?", "(?:grad|graduate|phd|doctoral|working) student",
        "(?:mba|phd|msc|ms|ma|bsc|ba|masters?|master s|bachelor s?|doctoral) candidate",
    ), "student"),
    # senior_ic
    (_w("sr", "snr", "s[eé]nior", "seinor", "senoir", "sinior", "seniour"), "senior_ic"),
    (_w(
        "principal", "distinguished",
        "staff (?:engineer|software|data|scientist|developer|architect|designer|product|analyst)",
        "architects?", "architecte", "arquitect[oa]", "tech lead", "technical lead",
        "lead (?:engineer|developer|dev|analyst|designer|architect|data|software|scientist"
        "|consultant|product|researcher)",
    ), "senior_ic"),
    (" lead $", "senior_ic"),
    # ic: nouns naming an individual role
    (_w(
        "anal[iy]st(?:e|a|s|as)?", "eng", "engr", "eng[ie]?n+e+rs?", "ing[eé]ni(?:eur|ero|era)s?",
        "ingenieur(?:in)?", "engenheir[oa]", "ingegnere", "developers?", "devs?",
        "d[eé]veloppeu(?:r|se)", "desarrollador(?:a)?", "entwickler(?:in)?", "programmer",
        "programador(?:a)?", "coder", "designers?", "scientists?", "specialist(?:e|a|s)?",
        "especialista", "sp[eé]cialiste", "coordinat(?:or|rice|eur)", "coordinador(?:a)?",
        "associates?", "representatives?", "reps?", "bdrs?", "sdrs?", "aes?", "executives?", "execs?",
        "consultants?", "consultor(?:a)?", "advis[eo]rs?", "administrat(?:or|eur)", "admin",
        "sysadmin", "accountant", "bookkeeper", "recruiters?", "generalist", "officer",
        "clerk", "agent", "technician", "t[eé]cnic[oa]", "assistant", "asistente",
        "assistente", "secretary", "receptionist", "writer", "copywriter", "editor",
        "marketer", "marketeer", "strategist", "planner", "buyer", "auditor", "researcher",
        "operator", "employee", "staff", "member", "contributor", "salesperson", "trader",
        "lawyer", "attorney", "paralegal", "counsel", "teacher", "professor", "lecturer",
        "nurse", "physician", "doctor", "pharmacist", "freelancer?", "tester", "qa",
        "devops", "sre", "dba", "mitarbeiter(?:in)?", "sachbearbeiter(?:in)?",
        "referent(?:in)?", "empleado",
    ), "ic"),
)

FUNCTION_RULES: tuple[tuple[str, str], ...] = (
    # An assistant's function is administration, whoever they assist.
    (_ASSISTANT_TO, "other"),
    # C-suite acronyms name the function outright; the CEO wins a double title.
    (_w("ceo", "ch(?:ie|ei)f executive(?: officer)?"), "executive"),
    (_w("ciso", "cio", "chief information(?: security)? officer"), "it"),
    (_w("cto", "chief (?:technology|technical|product) officer"), "engineering"),
    (_w("cdo", "cdao", "chief (?:data|analytics)(?: and analytics)? officer"), "data"),
    (_w("cfo", "chief financial officer"), "finance"),
    (_w("cmo", "cgo", "chief (?:marketing|growth) officer"), "marketing"),
    (_w("cro", "chief (?:revenue|sales|commercial) officer"), "sales"),
    (_w("coo", "chief operat(?:ing|ions) officer"), "operations"),
    (_w("chro", "chief (?:people|human resources) officer"), "hr"),
    # Overrides for phrases whose words point elsewhere.
    (_w("rev ?ops", "revenue op(?:eration)?s", "gtm ops", "go to market operations"), "operations"),
    (_w("data cent(?:er|re)s?"), "it"),
    (_w("data entry"), "other"),
    # "Accounts" alone is bookkeeping (UK usage); named account portfolios are sales.
    (_w("(?:key|global|strategic|national|enterprise|named|major) accounts?"), "sales"),
    # hr before data and sales: a "Data Science Recruiter" recruits.
    (_w(
        "hr", "hris", "hrbp", "human resources?", "people", "talent", "recruit(?:er|ers|ing|ment)?",
        "recruteu(?:r|se)", "reclutador(?:a)?", "rrhh", "recursos humanos",
        "ressources humaines", "rh", "personalwesen", "personalabteilung",
        "personalleiter(?:in)?", "compensation", "benefits", "learning and development", "l d",
    ), "hr"),
    (_w(
        "data", "datos", "donn[eé]es", "daten", "big data", "anal[iy]tics?", "anal[ií]tica",
        "bi", "business intelligence", "machine learning", "ml", "ai",
        "artificial intelligence", "data scien[a-z]*", "statistician", "statistics",
        "insights?", "reporting", "etl",
    ), "data"),
    # finance before sales: a "Revenue Accountant" is in finance.
    (_w(
        "finance", "financ(?:ial|es|ier|iero|iera|ière|eiro)", "finanzas", "finanzen",
        "fp a", "fpa", "accounting", "accountants?", "accounts",
        "controller", "controlling", "comptroller", "treasury", "treasurer", "tax(?:es)?",
        "audit(?:or|ors|ing)?", "bookkeep(?:er|ing)", "payroll", "billing",
        "investor relations", "comptab(?:le|ilit[eé])", "contador(?:a)?", "contabilidad",
        "buchhaltung", "(?:finanz)?buchhalter(?:in)?", "tr[eé]sorerie",
    ), "finance"),
    # The fuzzy word takes marketing and market, and mktg, mkting, mrkt, maketing,
    # markting, marekting, marketting, marketng, marketin.
    (_w(
        "ma?r?e?k+e?t+i?n?g?", "mraketing", "markeing", "marketign", "mercadeo",
        "mercadotecnia", "mercatique", "marketers?", "marketeer", "demand ?gen(?:eration)?",
        "lead ?gen(?:eration)?", "growth", "brand(?:ing)?", "content", "seo", "sem", "ppc",
        "paid (?:media|search|social)", "social media", "communications?", "comms",
        "kommunikation", "comunicaci[oó]n", "pr", "public relations", "events?",
        "advertising", "copywriter", "campaigns?", "abm", "werbung", "marketo", "hubspot", "pardot",
    ), "marketing"),
    (_w(
        "sales?", "slaes", "ventas?", "vendas?", "ventes?", "vendite", "vertrieb", "verkauf",
        "salesforce", "crm",
        "commercial", "comercial", "business development", "biz ?dev", "bd", "bdrs?", "sdrs?",
        "aes?", "account", "account executives?", "revenue",
        "partnerships?", "partner (?:manager|management|development|sales|accounts?)",
        "channel", "alliances?", "pre ?sales", "customer acquisition",
    ), "sales"),
    (_w(
        "it", "i t", "ti", "information technology", "information systems?", "infrastructure",
        "infra", "network(?:s|ing)?", "sysadmin", "system administrator",
        "systems? admin(?:istrator)?", "systems", "help ?desk", "service desk",
        "desktop support", "tech support", "technical support", "security",
        "cyber ?security", "infosec", "cloud", "dsi", "informatique", "inform[aá]tica",
        "informatik", "sistemas", "tecnolog[ií]a", "technology", "enterprise architect(?:ure)?",
        "erp", "dba", "database administrator",
    ), "it"),
    (_w(
        "eng", "engr", "eng[ie]?n+e+r(?:s|ing)?", "ing[eé]ni(?:eur|ero|era)s?",
        "ingenieur(?:in|e)?", "engenh(?:eir[oa]|aria)", "ingegner(?:e|ia)", "ingenier[ií]a",
        "developers?", "devs?", "software development", "d[eé]veloppeu(?:r|se)",
        "desarrollador(?:a)?", "desarrollo", "entwickl(?:er|erin|ung)", "programmer",
        "programador(?:a)?", "programming", "coder", "software", "hardware", "firmware",
        "devops", "sre", "site reliability", "qa", "quality assurance", "tester", "testing",
        "r d", "research and development", "products?", "produit", "producto",
        "architect(?:s|ure)?", "architecte", "arquitect[oa]", "full ?stack", "front ?end",
        "back ?end", "web", "mobile", "ios", "android", "tech", "technical",
    ), "engineering"),
    (_w(
        "ops", "operations?", "operating", "operational", "operaciones", "op[eé]rations",
        "opera[cç](?:ão|ões|ao|oes)", "betrieb", "logistics?", "log[ií]stica", "logistik",
        "supply chain", "procurement", "purchasing", "buyer", "sourcing", "facilit(?:y|ies)",
        "office manager", "office management", "projects?", "program(?:me)?s?", "pmo",
        "process(?:es)?", "warehouse", "fulfil?ment", "manufacturing", "production", "quality",
    ), "operations"),
    # A bare analyst, once no team is named, analyses data.
    (_w("anal[iy]st(?:e|a|s|as)?"), "data"),
    # General management.
    (_FOUNDER_OWNER, "executive"),
    (_TOP_MANAGEMENT, "executive"),
    (_GENERAL_MANAGER, "executive"),
    (_w("executive director", "chief of staff", "cxo", "c level", "c suite", "cpo", "cso", "cco", "cao"), "executive"),
    (_CHIEF, "executive"),
    ("^ partner $", "executive"),
    (_VICE_PRESIDENT, "unknown"),  # a VP of nothing named has no known function
    (_PRESIDENT, "executive"),
    # Functions outside the ones we model.
    (_w(
        "legal", "lawyer", "attorney", "counsel", "paralegal", "abogad[oa]", "avocat(?:e)?",
        "(?:rechts)?anwalt", "compliance", "risk", "customer success", "cs", "csm",
        "customer service", "customer support", "customer experience", "cx",
        "client services?", "support", "success", "teacher", "professor", "lecturer",
        "educator", "instructor", "trainer", "research(?:er)?", "scientists?", "design(?:er)?",
        "ux", "ui", "creative", "consult(?:ant|ing)", "consultor(?:a)?", "advis[eo]r",
        "administrative", "secretary", "receptionist", "nurse", "physician",
        "doctor", "medical", "clinical", "pharmacist", "editor", "journalist", "writer",
        "strategy", "strategist", "freelancer?", "self employed",
    ), "other"),
    # An assistant to no one named ("Assistant Manager" has no known function).
    (" assistant $", "other"),
)

_PUNCTUATION_RE = re.compile(PUNCTUATION_PATTERN)
_WHITESPACE_RE = re.compile(WHITESPACE_PATTERN)
_SENIORITY = tuple((re.compile(pattern), label) for pattern, label in SENIORITY_RULES)
_FUNCTION = tuple((re.compile(pattern), label) for pattern, label in FUNCTION_RULES)


def normalise_title(title: str | None) -> str:
    """Reduce a title to the one form every pattern is written against.

    Lower case and punctuation-as-space remove the variation that carries no meaning
    ("V.P.", "vp,", "VP-"); collapsing whitespace and padding with one space at each
    end lets patterns delimit whole words with spaces, which every regex engine reads
    the same way. Missing values (None, NaN) become the empty title ``"  "`` so they
    fall through every rule to ``unknown``. :func:`normalised_sql` must stay the
    same transformation.
    """
    if title is None or (isinstance(title, float) and math.isnan(title)):
        text = ""
    else:
        text = title if isinstance(title, str) else str(title)
    text = _WHITESPACE_RE.sub(" ", _PUNCTUATION_RE.sub(" ", text.lower()))
    return " " + text.strip(" ") + " "


def _first_label(compiled: tuple[tuple[re.Pattern[str], str], ...], normalised: str) -> str:
    for pattern, label in compiled:
        if pattern.search(normalised):
            return label
    return "unknown"


def parse_title(title: str | None) -> tuple[str, str]:
    """Return ``(seniority, function)`` for one title, e.g. while scoring a single lead.

    Never raises: any value is turned into text first, and a title nothing matches is
    ``("unknown", "unknown")``. Gives the same labels as :func:`title_sql`.
    """
    normalised = normalise_title(title)
    return _first_label(_SENIORITY, normalised), _first_label(_FUNCTION, normalised)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def normalised_sql(column: str) -> str:
    """The SQL twin of :func:`normalise_title`, so batch and online titles match.

    ``column`` is pasted in verbatim (any SQL expression; quote identifiers yourself).
    The cast lets a column of another type, or an all-NULL column, through.
    """
    text = f"lower(coalesce(CAST({column} AS VARCHAR), ''))"
    text = f"regexp_replace({text}, {_sql_literal(PUNCTUATION_PATTERN)}, ' ', 'g')"
    text = f"regexp_replace({text}, {_sql_literal(WHITESPACE_PATTERN)}, ' ', 'g')"
    return f"(' ' || trim({text}) || ' ')"


def _case_sql(normalised: str, rules: tuple[tuple[str, str], ...]) -> str:
    branches = " ".join(
        f"WHEN regexp_matches({normalised}, {_sql_literal(pattern)}) THEN {_sql_literal(label)}"
        for pattern, label in rules
    )
    return f"CASE {branches} ELSE 'unknown' END"


def title_sql(column: str) -> tuple[str, str]:
    """Return ``(seniority_sql, function_sql)``: the two tables as DuckDB expressions.

    Scoring a whole leads table in SQL avoids a Python round trip per row; the
    expressions apply the same tables as :func:`parse_title` and give the same labels.
    They are DuckDB SQL. For Spark SQL, replace ``regexp_matches(x, p)`` with
    ``x rlike p`` and double the backslashes of the two normalisation patterns
    (Spark string literals treat backslash as an escape); the rule patterns contain
    none.
    """
    normalised = normalised_sql(column)
    return _case_sql(normalised, SENIORITY_RULES), _case_sql(normalised, FUNCTION_RULES)
