"""Reference data of the ``PER-2021`` rule set: areas, competencies, level descriptors, rules.

What the rule set is (20 technical sub-competencies FR1-TX3 in 6 areas, 5 enabling
competencies, proficiency levels 0/1/2, core/depth/breadth, the EVR 12-month rule, 30 months
with up to 20 weeks of time away) comes from ``research/cpa-pert-domain.md``. The codes and
names are the labels PERT itself shows. Every descriptor and guiding question below is
written in our own words as a hint for the candidate: CPA Canada's wording is copyrighted,
and PER Appendix A/B remain the authority on what a reviewer expects.

A later rule set (the 2027 CPA Professional Program) is added as another entry of
:data:`FRAMEWORKS`, never as an edit of this one: reports keep the version they were
written under.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class CompetencySeed:
    """One competency as seeded: code, kind, area and our own-words descriptors."""

    code: str
    kind: str  # technical | enabling
    area_code: str
    name: str
    level0: str
    level1: str
    level2: str
    focus_question: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameworkSeed:
    """A versioned rule set with its thresholds and its competencies."""

    version: str
    name: str
    description: str
    effective_from: date
    effective_until: date | None
    source_url: str
    rules: dict[str, Any]
    areas: dict[str, str]
    competencies: tuple[CompetencySeed, ...]


# Asked of every technical write-up; the focus question of each competency comes first.
TECHNICAL_QUESTIONS = (
    "What made the situation complex or non-routine for you, and how often did you do it?",
    "What did you personally do (say 'I', not 'we'), and which standards, data or tools "
    "did you rely on?",
    "What came out of your work, and who used or relied on it?",
    "What did you learn, and how does this show progress from your earlier work?",
)
ENABLING_QUESTIONS = (
    "Describe a specific situation rather than a general duty.",
    "What did you do, and what options did you weigh?",
    "What was the effect on the people or the work involved?",
    "What would you repeat or change next time?",
)

PER_2021_RULES: dict[str, Any] = {
    # Duration: at least 30 months, of which up to 20 weeks (140 days) of time away count;
    # leave beyond that is added to the months required.
    "months_required": 30,
    "time_away_allowance_days": 140,
    # Reporting: at least every 6 months; a period shorter than 6 or longer than 12 months
    # draws a warning (CPA Atlantic expects 6-12 month periods in sequence).
    "report_interval_months": 6,
    "period_months_min": 6,
    "period_months_max": 12,
    # EVR: after 12 months at least 2 sub-competencies at level 1 or more, otherwise the
    # duration stops counting until they are reached (8 months in Quebec: province config).
    "evr_review_after_months": 12,
    "evr_minimum_competencies": 2,
    "evr_minimum_level": 1,
    # Technical completion over all 20 sub-competencies.
    "core": {"areas": ["FR", "MA"], "minimum": 3, "level": 1},
    "depth": {"level": 1, "minimum_at_top": 2, "top_level": 2},
    "breadth": {"minimum": 8, "level": 1, "minimum_at_top": 4, "top_level": 2},
    # Each enabling competency must reach this level by the end.
    "enabling": {"level": 2},
}

AREAS_2021 = {
    "FR": "Financial Reporting",
    "MA": "Management Accounting",
    "SG": "Strategy and Governance",
    "AA": "Audit and Assurance",
    "FN": "Finance",
    "TX": "Taxation",
    "EN": "Enabling competencies",
}


def _t(code: str, name: str, l0: str, l1: str, l2: str, focus: str) -> CompetencySeed:
    return CompetencySeed(code, "technical", code[:2], name, l0, l1, l2, focus)


TECHNICAL_2021 = (
    _t(
        "FR1",
        "Financial reporting needs and systems",
        "Collects what the users of the financial statements need and notes how the "
        "reporting system captures the entity's transactions.",
        "Works out what the entity and its stakeholders need from its reporting and points "
        "out where the system or its controls do not deliver it, in familiar situations.",
        "Judges whether the reporting framework and systems suit a complex or changing "
        "entity and proposes changes that others act on.",
        "Which reporting needs or system features did you examine, and what did you find?",
    ),
    _t(
        "FR2",
        "Accounting policies and transactions",
        "Books ordinary transactions under the policies already in place and can say which "
        "standard governs them.",
        "Looks up and works through the accounting for ordinary transactions and drafts the "
        "entries and memos a more senior person checks.",
        "Weighs the acceptable treatments of unusual or judgment-heavy transactions against "
        "the standards and recommends the policy to follow.",
        "Which transaction or policy question did you resolve, and which standard applied?",
    ),
    _t(
        "FR3",
        "Financial report preparation",
        "Puts balances and schedules into existing report templates and checks that the "
        "figures tie.",
        "Drafts the financial statements or reports of an entity with ordinary activity, "
        "notes and disclosures included.",
        "Prepares or reviews full reports of a complex entity and settles presentation and "
        "disclosure questions that call for judgment.",
        "Which report did you prepare, and which presentation or disclosure choices were yours?",
    ),
    _t(
        "FR4",
        "Financial statement analysis",
        "Works out standard ratios and differences from statements already prepared.",
        "Examines trends, ratios and unexpected movements and explains what caused them.",
        "Reads the results in depth, judges what they mean for the entity and advises the "
        "people deciding.",
        "What did your analysis reveal, and who used your conclusions?",
    ),
    _t(
        "MA1",
        "Management reporting needs and systems",
        "Pulls together data for internal reports and can say what managers use them for.",
        "Works out what managers need to know and finds the gaps in internal reporting or "
        "costing systems.",
        "Assesses or designs management information and reports and recommends "
        "improvements that are taken up.",
        "Which management information need did you address, and how?",
    ),
    _t(
        "MA2",
        "Planning, budgeting and forecasting",
        "Gathers inputs and keys figures into budget or forecast models.",
        "Builds budgets or forecasts for a unit or routine operation and explains the "
        "differences from plan.",
        "Designs planning or forecasting models resting on significant assumptions and "
        "advises on the plans that come out of them.",
        "Which budget or forecast did you work on, and which assumptions did you set?",
    ),
    _t(
        "MA3",
        "Cost, revenue and profitability management",
        "Collects cost and revenue figures and runs standard costing calculations.",
        "Examines the costs, margins and profitability of products, services or units and "
        "identifies what drives them.",
        "Assesses cost structures and profitability options and recommends decisions such "
        "as pricing, sourcing or process changes.",
        "Which cost or profitability question did you examine, and what did you recommend?",
    ),
    _t(
        "MA4",
        "Organizational and individual performance measurement",
        "Collects performance data and computes the agreed measures.",
        "Compares performance with targets and explains why results differ.",
        "Assesses or designs performance measures and incentives and advises on how they "
        "shape behaviour.",
        "Which performance measures did you work with, and what did you conclude?",
    ),
    _t(
        "SG1",
        "Governance, mission, vision, values and mandate",
        "Can describe the entity's governance structure, mission and mandate.",
        "Examines how governance practices, policies or the mandate bear on a decision or "
        "activity.",
        "Assesses governance arrangements and advises the board or leadership on improvements.",
        "Which governance matter did you deal with, and what was your part in it?",
    ),
    _t(
        "SG2",
        "Strategy development and implementation",
        "Gathers the information used in strategic planning.",
        "Examines the environment, the options or the progress of strategic initiatives.",
        "Assesses strategic alternatives and recommends one or leads putting it in place.",
        "Which strategic question did you work on, and what did you contribute?",
    ),
    _t(
        "SG3",
        "Enterprise risk management",
        "Records known risks in a register and can explain the risk policy.",
        "Identifies and examines the risks of a unit or process and the responses in place.",
        "Assesses the entity's risk exposure and responses and recommends changes to how "
        "risk is managed.",
        "Which risks did you assess, and what responses did you propose?",
    ),
    _t(
        "AA1",
        "Internal control",
        "Writes down processes and controls as they are described.",
        "Examines how controls are designed, tests whether they work and identifies weaknesses.",
        "Assesses the control environment as a whole and recommends improvements to management.",
        "Which controls did you document, test or assess, and what did you find?",
    ),
    _t(
        "AA2",
        "Internal audit or external assurance requirements: basis and risk assessment",
        "Gathers background on the engagement and the entity.",
        "Assesses the entity's risks and carries out planning steps such as materiality "
        "and risk assessment under supervision.",
        "Judges engagement risk, sets the approach and materiality and decides which "
        "procedures are needed.",
        "How did you plan the engagement, and which risks shaped the approach?",
    ),
    _t(
        "AA3",
        "Internal audit projects or external assurance engagements",
        "Performs assigned steps of an existing program and records the results.",
        "Performs and documents procedures on significant areas, examines the evidence and "
        "identifies issues.",
        "Judges whether the evidence is sufficient, concludes on significant areas and "
        "drafts the findings or the report.",
        "Which areas did you test, and what did you conclude from the evidence?",
    ),
    _t(
        "FN1",
        "Financial analysis and planning",
        "Gathers financial data and computes standard measures.",
        "Examines the entity's financial position, cash flows or financing needs.",
        "Assesses financial plans and options and advises on the entity's financial strategy.",
        "Which financial analysis or plan did you prepare, and for whom?",
    ),
    _t(
        "FN2",
        "Treasury management",
        "Records cash positions and handles routine treasury transactions.",
        "Examines cash flow, working capital or financing arrangements and identifies issues.",
        "Assesses treasury policies and financing or hedging options and recommends actions.",
        "Which cash, working capital or financing matter did you handle?",
    ),
    _t(
        "FN3",
        "Capital budgeting, valuation and corporate finance",
        "Collects data and runs routine calculations for investment or valuation work.",
        "Examines investment proposals or valuations with accepted methods.",
        "Assesses capital projects, valuations or transactions and recommends a course of action.",
        "Which investment, valuation or transaction did you analyse, and what did you recommend?",
    ),
    _t(
        "TX1",
        "Income tax legislation and research",
        "Finds the tax rules that apply and can explain their basic effect.",
        "Researches tax questions in familiar situations and documents the conclusion.",
        "Works through complex tax questions, interprets the legislation and advises on the "
        "position to take.",
        "Which tax question did you research, and how did you reach your conclusion?",
    ),
    _t(
        "TX2",
        "Tax compliance: corporate or personal",
        "Gathers information and enters data for returns.",
        "Prepares returns and supporting calculations in familiar situations and flags issues.",
        "Prepares or reviews complex returns and resolves compliance questions that call "
        "for judgment.",
        "Which returns or filings did you prepare or review, and what issues arose?",
    ),
    _t(
        "TX3",
        "Tax planning: corporate or personal",
        "Can explain common planning opportunities and gathers the facts.",
        "Examines planning opportunities and their tax effect for a client or the entity.",
        "Assesses planning alternatives and recommends a plan, weighing its risks and the "
        "wider situation.",
        "Which planning opportunity did you assess, and what did you advise?",
    ),
)


def _e(
    code: str, name: str, aliases: tuple[str, ...], l0: str, l1: str, l2: str, focus: str
) -> CompetencySeed:
    return CompetencySeed(code, "enabling", "EN", name, l0, l1, l2, focus, aliases)


ENABLING_2021 = (
    _e(
        "EN1",
        "Acting ethically and demonstrating professional values",
        ("Professional and ethical behaviour",),
        "Knows the rules of professional conduct and follows them when told to.",
        "Recognises ethical questions in day-to-day work and raises them appropriately.",
        "Handles ethical dilemmas on their own judgment, protects the public interest and "
        "sets an example for others.",
        "When did you face an ethical question at work, and how did you handle it?",
    ),
    _e(
        "EN2",
        "Solving problems and adding value",
        ("Problem-solving and decision-making",),
        "Follows set procedures to deal with a problem.",
        "Frames problems, looks at options and supports a decision with analysis.",
        "Solves unstructured problems, weighs options and their consequences and proposes "
        "solutions that add value.",
        "Which problem did you solve, and how did you choose among the options?",
    ),
    _e(
        "EN3",
        "Communicating",
        ("Communication",),
        "Passes on information accurately when asked.",
        "Adapts written and spoken messages to the audience and listens actively.",
        "Communicates complex matters clearly to different audiences and influences decisions.",
        "Which message did you have to get across, to whom, and how did you adapt it?",
    ),
    _e(
        "EN4",
        "Managing self",
        ("Self-management",),
        "Completes assigned work on time with guidance.",
        "Plans their own work, seeks feedback and keeps developing their skills.",
        "Manages competing priorities independently, reflects on their performance and "
        "takes charge of their development.",
        "How did you organise your work or your learning, and what changed as a result?",
    ),
    _e(
        "EN5",
        "Collaborating and leading",
        ("Teamwork and leadership",),
        "Takes part in team work as assigned.",
        "Contributes actively to a team, shares knowledge and helps resolve disagreements.",
        "Leads people or projects, delegates and develops others, and handles conflict.",
        "When did you work with or lead others, and what was your role?",
    ),
)

PER_2021 = FrameworkSeed(
    version="PER-2021",
    name="CPA Practical Experience Requirements (2020 competency map)",
    description=(
        "The practical experience rules candidates report through PERT today: 20 technical "
        "sub-competencies in 6 areas, 5 enabling competencies, proficiency levels 0-2, at "
        "least 30 months including up to 20 weeks of time away. Routes EVR and PPR."
    ),
    effective_from=date(2021, 1, 1),
    effective_until=None,
    source_url=(
        "https://cpaalberta.ca/Become-a-CPA/Practical-Experience/Candidates/"
        "Understand-the-Requirements"
    ),
    rules=PER_2021_RULES,
    areas=AREAS_2021,
    competencies=TECHNICAL_2021 + ENABLING_2021,
)

# Every rule set the application knows, oldest first. ``CPP-2027`` (24 months, work plan,
# Foundational and Professional months) is added here once its rules are published.
FRAMEWORKS: tuple[FrameworkSeed, ...] = (PER_2021,)
