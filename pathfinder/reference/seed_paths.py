"""The seeded career paths: ordered stages, typical years, and the skills each stage builds.

Written by hand for Pathfinder. Every skill named here is a catalogue name of
:mod:`pathfinder.reference.seed_data` (a test checks it), so the UI can link them. The CPA
path follows the Canadian route to the designation: the prerequisites, the Professional
Education Program, at least 30 months of practical experience reported against the PER,
and the Common Final Examination.
"""

from __future__ import annotations

from typing import Any


def _stage(title: str, years: int, skills: list[str], summary: str) -> dict[str, Any]:
    return {"title": title, "typical_years": years, "skills": skills, "summary": summary}


# Career paths: ordered stages with typical years in each and the skills a stage builds.
# Every skill named here is a catalogue name (tested), so the UI can link them.
CAREER_PATHS: tuple[dict[str, Any], ...] = (
    {
        "path_key": "cpa",
        "title": "Chartered Professional Accountant (CPA)",
        "description": (
            "The Canadian CPA designation: a degree with the prerequisite accounting courses, "
            "the CPA Professional Education Program (PEP), the Common Final Examination "
            "(CFE), and at least 30 months of relevant, paid practical experience reported "
            "against the Practical Experience Requirements (PER) through the experience "
            "verification route (EVR) or a pre-approved program (PPR)."
        ),
        "typical_years": 5,
        "required_skills": [
            "Financial Accounting",
            "Financial Reporting",
            "Management Accounting",
            "External Audit",
            "Corporate Tax",
            "Corporate Finance",
            "Corporate Governance",
            "Professional Ethics",
        ],
        "stages": [
            _stage(
                "Accounting degree and prerequisites",
                4,
                ["Financial Accounting", "Management Accounting", "Microsoft Excel"],
                "A bachelor's degree including the CPA prerequisite courses (or the CPA "
                "preparatory courses).",
            ),
            _stage(
                "CPA Professional Education Program",
                2,
                ["Financial Reporting", "Corporate Tax", "External Audit", "Corporate Finance"],
                "Core 1 and Core 2, two electives, Capstone 1 and Capstone 2, taken while working.",
            ),
            _stage(
                "Practical experience (PER)",
                3,
                [
                    "Financial Reporting",
                    "Management Accounting",
                    "Internal Controls",
                    "Tax Compliance",
                    "Professional Ethics",
                ],
                "At least 30 months of relevant, paid experience, reported in PERT against "
                "the technical and enabling competencies.",
            ),
            _stage(
                "Common Final Examination",
                1,
                ["Financial Reporting", "Business Strategy", "Critical Thinking"],
                "The three-day CFE, written after Capstone 1.",
            ),
            _stage(
                "CPA: senior accountant or audit senior",
                3,
                ["External Audit", "Financial Statement Preparation", "People Management"],
                "Designated; leads engagements or closes the books of a business unit.",
            ),
            _stage(
                "Controller or audit manager",
                4,
                ["Financial Planning and Analysis", "Budgeting", "Leadership"],
                "Owns the financial close, reporting and controls of an organisation.",
            ),
            _stage(
                "Chief financial officer or partner",
                5,
                ["Corporate Finance", "Strategic Planning", "Corporate Governance"],
                "Accountable for the finance function or a practice.",
            ),
        ],
    },
    {
        "path_key": "software_engineer",
        "title": "Software engineer",
        "description": "From first programming job to staff or principal engineer.",
        "typical_years": 12,
        "required_skills": ["Git", "Software Architecture", "Unit Testing", "Code Review"],
        "stages": [
            _stage(
                "Junior software engineer",
                2,
                ["Python", "JavaScript", "Git", "SQL", "Unit Testing"],
                "Delivers well-scoped tasks with review.",
            ),
            _stage(
                "Software engineer",
                3,
                ["REST APIs", "Docker", "CI/CD", "Code Review"],
                "Owns features end to end.",
            ),
            _stage(
                "Senior software engineer",
                3,
                ["System Design", "Distributed Systems", "Mentoring"],
                "Designs systems and leads the technical work of a team.",
            ),
            _stage(
                "Staff or principal engineer",
                4,
                ["Software Architecture", "Technical Writing", "Leadership"],
                "Sets technical direction across teams.",
            ),
        ],
    },
    {
        "path_key": "engineering_manager",
        "title": "Engineering manager",
        "description": "The management track for software engineers.",
        "typical_years": 12,
        "required_skills": ["People Management", "Project Management", "System Design"],
        "stages": [
            _stage(
                "Senior engineer or tech lead",
                3,
                ["System Design", "Mentoring", "Code Review"],
                "Leads a team's technical work.",
            ),
            _stage(
                "Engineering manager",
                3,
                ["People Management", "Performance Management", "Talent Acquisition"],
                "Manages a team of engineers.",
            ),
            _stage(
                "Senior engineering manager",
                3,
                ["Stakeholder Management", "Budgeting", "Strategic Planning"],
                "Manages managers or several teams.",
            ),
            _stage(
                "Director or VP of engineering",
                4,
                ["Leadership", "Organizational Development", "Business Strategy"],
                "Runs an engineering organisation.",
            ),
        ],
    },
    {
        "path_key": "data_scientist",
        "title": "Data scientist",
        "description": "Statistics and machine learning applied to business questions.",
        "typical_years": 10,
        "required_skills": ["Python", "Statistics", "Machine Learning", "SQL"],
        "stages": [
            _stage(
                "Data analyst",
                2,
                ["SQL", "Microsoft Excel", "Data Visualization", "Statistics"],
                "Answers questions from data with queries and dashboards.",
            ),
            _stage(
                "Data scientist",
                3,
                ["Python", "pandas", "Machine Learning", "A/B Testing"],
                "Builds models and experiments.",
            ),
            _stage(
                "Senior data scientist",
                3,
                ["Deep Learning", "MLOps", "Mentoring"],
                "Owns modelling for a product area.",
            ),
            _stage(
                "Lead or principal data scientist",
                3,
                ["Leadership", "Business Strategy", "Data Governance"],
                "Sets the data science agenda.",
            ),
        ],
    },
    {
        "path_key": "data_engineer",
        "title": "Data engineer",
        "description": "Pipelines, warehouses and the platforms analysts and models run on.",
        "typical_years": 10,
        "required_skills": ["SQL", "Python", "ETL", "Data Warehousing"],
        "stages": [
            _stage(
                "Junior data engineer",
                2,
                ["SQL", "Python", "ETL"],
                "Builds and maintains pipelines.",
            ),
            _stage(
                "Data engineer",
                3,
                ["Apache Airflow", "Apache Spark", "Data Modeling", "dbt"],
                "Designs pipelines and models.",
            ),
            _stage(
                "Senior data engineer",
                3,
                ["Data Warehousing", "Apache Kafka", "Data Governance"],
                "Owns a data platform area.",
            ),
            _stage(
                "Data architect",
                4,
                ["Software Architecture", "Data Governance", "Leadership"],
                "Designs the organisation's data architecture.",
            ),
        ],
    },
    {
        "path_key": "financial_analyst",
        "title": "Financial analyst to CFO",
        "description": "Corporate finance: analysis, planning, then leading finance.",
        "typical_years": 15,
        "required_skills": ["Financial Analysis", "Financial Modeling", "Microsoft Excel"],
        "stages": [
            _stage(
                "Financial analyst",
                3,
                ["Financial Analysis", "Microsoft Excel", "Variance Analysis"],
                "Prepares analyses, budgets and forecasts.",
            ),
            _stage(
                "Senior financial analyst",
                3,
                ["Financial Modeling", "Financial Planning and Analysis", "Power BI"],
                "Owns models and the forecast of a business line.",
            ),
            _stage(
                "Finance manager",
                3,
                ["Budgeting", "People Management", "Stakeholder Management"],
                "Leads a planning or reporting team.",
            ),
            _stage(
                "Director of finance",
                3,
                ["Corporate Finance", "Strategic Planning", "Treasury Management"],
                "Runs FP&A, treasury or reporting.",
            ),
            _stage(
                "Chief financial officer",
                5,
                ["Leadership", "Mergers and Acquisitions", "Corporate Governance"],
                "Accountable for the finance function.",
            ),
        ],
    },
    {
        "path_key": "external_auditor",
        "title": "External auditor",
        "description": "Public practice assurance, from staff accountant to partner.",
        "typical_years": 12,
        "required_skills": ["External Audit", "Internal Controls", "Risk Assessment"],
        "stages": [
            _stage(
                "Audit staff",
                2,
                ["External Audit", "Audit Sampling", "CaseWare"],
                "Performs audit procedures on assigned areas.",
            ),
            _stage(
                "Audit senior",
                2,
                ["Audit Planning", "Risk Assessment", "Canadian Auditing Standards"],
                "Runs engagements in the field and supervises staff.",
            ),
            _stage(
                "Audit manager",
                3,
                ["People Management", "Internal Controls", "Financial Reporting"],
                "Manages a portfolio of engagements.",
            ),
            _stage(
                "Senior manager or partner",
                5,
                ["Business Development", "Leadership", "Professional Ethics"],
                "Signs opinions and develops the practice.",
            ),
        ],
    },
    {
        "path_key": "tax_specialist",
        "title": "Tax specialist",
        "description": "Corporate, personal and international tax in practice or industry.",
        "typical_years": 12,
        "required_skills": ["Corporate Tax", "Tax Compliance", "Tax Research"],
        "stages": [
            _stage(
                "Tax associate",
                2,
                ["Tax Compliance", "Personal Income Tax", "TaxPrep"],
                "Prepares returns and working papers.",
            ),
            _stage(
                "Tax senior",
                3,
                ["Corporate Tax", "Tax Research", "Indirect Tax"],
                "Reviews returns and researches issues.",
            ),
            _stage(
                "Tax manager",
                3,
                ["Tax Planning", "International Tax", "People Management"],
                "Advises clients and manages a team.",
            ),
            _stage(
                "Tax director or partner",
                4,
                ["Transfer Pricing", "Business Development", "Leadership"],
                "Leads a tax practice or a company's tax function.",
            ),
        ],
    },
    {
        "path_key": "product_manager",
        "title": "Product manager",
        "description": "Deciding what to build and why, then making it happen.",
        "typical_years": 12,
        "required_skills": ["Product Management", "User Research", "Stakeholder Management"],
        "stages": [
            _stage(
                "Associate product manager",
                2,
                ["User Stories", "Requirements Gathering", "Agile"],
                "Owns features under guidance.",
            ),
            _stage(
                "Product manager",
                3,
                ["Product Roadmapping", "User Research", "A/B Testing"],
                "Owns a product area.",
            ),
            _stage(
                "Senior product manager",
                3,
                ["Product Strategy", "Go-to-Market Strategy", "Stakeholder Management"],
                "Sets strategy for a product line.",
            ),
            _stage(
                "Director or VP of product",
                4,
                ["Leadership", "Business Strategy", "People Management"],
                "Leads the product organisation.",
            ),
        ],
    },
    {
        "path_key": "ux_designer",
        "title": "UX designer",
        "description": "Research, interaction and visual design of digital products.",
        "typical_years": 10,
        "required_skills": ["User Experience Design", "User Research", "Prototyping"],
        "stages": [
            _stage(
                "Junior UX designer",
                2,
                ["Wireframing", "Figma", "Usability Testing"],
                "Designs screens and flows from briefs.",
            ),
            _stage(
                "UX designer",
                3,
                ["Interaction Design", "User Research", "Prototyping"],
                "Owns the experience of a product area.",
            ),
            _stage(
                "Senior UX designer",
                3,
                ["Design Systems", "Information Architecture", "Mentoring"],
                "Leads design for a product.",
            ),
            _stage(
                "Design lead or head of design",
                4,
                ["Leadership", "Design Thinking", "People Management"],
                "Leads a design team and its practice.",
            ),
        ],
    },
    {
        "path_key": "devops_engineer",
        "title": "DevOps and site reliability engineer",
        "description": "Build, deploy and run software reliably at scale.",
        "typical_years": 10,
        "required_skills": ["Linux", "CI/CD", "Kubernetes", "Infrastructure as Code"],
        "stages": [
            _stage(
                "Systems administrator or junior DevOps engineer",
                2,
                ["Linux", "Bash", "Git"],
                "Keeps systems running and automates chores.",
            ),
            _stage(
                "DevOps engineer",
                3,
                ["Docker", "CI/CD", "Terraform", "Amazon Web Services"],
                "Builds delivery pipelines and infrastructure.",
            ),
            _stage(
                "Site reliability engineer",
                3,
                ["Kubernetes", "Observability", "Incident Response"],
                "Owns reliability targets and on-call.",
            ),
            _stage(
                "Platform or infrastructure lead",
                4,
                ["Software Architecture", "Leadership", "Cloud Security"],
                "Leads the platform the organisation runs on.",
            ),
        ],
    },
    {
        "path_key": "cybersecurity_analyst",
        "title": "Cybersecurity analyst",
        "description": "Defending systems and data, from the SOC to the CISO's office.",
        "typical_years": 12,
        "required_skills": ["Cybersecurity", "Incident Response", "Network Security"],
        "stages": [
            _stage(
                "SOC analyst",
                2,
                ["SIEM", "Incident Response", "Computer Networking"],
                "Monitors and triages security events.",
            ),
            _stage(
                "Security engineer",
                3,
                ["Network Security", "Identity and Access Management", "Cloud Security"],
                "Builds and runs security controls.",
            ),
            _stage(
                "Senior security engineer or pen tester",
                3,
                ["Penetration Testing", "Threat Modeling", "Application Security"],
                "Finds and fixes weaknesses.",
            ),
            _stage(
                "Security manager or CISO",
                4,
                ["Leadership", "Enterprise Risk Management", "ISO 27001"],
                "Owns the security programme.",
            ),
        ],
    },
    {
        "path_key": "project_manager",
        "title": "Project manager",
        "description": "Delivering projects and programmes on time, scope and budget.",
        "typical_years": 12,
        "required_skills": ["Project Management", "Risk Management", "Stakeholder Management"],
        "stages": [
            _stage(
                "Project coordinator",
                2,
                ["Microsoft Project", "Communication", "Time Management"],
                "Keeps plans, minutes and logs.",
            ),
            _stage(
                "Project manager",
                3,
                ["Project Management", "Risk Management", "Budgeting"],
                "Runs projects end to end.",
            ),
            _stage(
                "Senior project manager",
                3,
                ["Project Management Professional", "Stakeholder Management", "Agile"],
                "Runs large or several projects.",
            ),
            _stage(
                "Programme or PMO director",
                4,
                ["Program Management", "Project Portfolio Management", "Leadership"],
                "Oversees a portfolio of projects.",
            ),
        ],
    },
    {
        "path_key": "hr_business_partner",
        "title": "Human resources",
        "description": "From HR generalist to chief people officer.",
        "typical_years": 12,
        "required_skills": ["Employee Relations", "Talent Acquisition", "Employment Law"],
        "stages": [
            _stage(
                "HR coordinator",
                2,
                ["HRIS", "Employee Onboarding", "Talent Acquisition"],
                "Runs HR processes.",
            ),
            _stage(
                "HR generalist",
                3,
                ["Employee Relations", "Performance Management", "Employment Law"],
                "Advises managers and employees.",
            ),
            _stage(
                "HR business partner",
                3,
                ["Organizational Development", "Workforce Planning", "Change Management"],
                "Partners with leaders of a business unit.",
            ),
            _stage(
                "HR director or chief people officer",
                4,
                ["Leadership", "Compensation and Benefits", "Business Strategy"],
                "Leads the people function.",
            ),
        ],
    },
    {
        "path_key": "digital_marketer",
        "title": "Digital marketing",
        "description": "Acquisition, content and brand, from specialist to marketing lead.",
        "typical_years": 10,
        "required_skills": ["Digital Marketing", "Marketing Analytics", "Content Strategy"],
        "stages": [
            _stage(
                "Marketing coordinator",
                2,
                ["Social Media Marketing", "Email Marketing", "Copywriting"],
                "Runs campaigns and channels.",
            ),
            _stage(
                "Digital marketing specialist",
                3,
                ["Search Engine Optimization", "Google Ads", "Google Analytics"],
                "Owns acquisition channels.",
            ),
            _stage(
                "Marketing manager",
                3,
                ["Marketing Strategy", "Marketing Analytics", "Budgeting"],
                "Plans and runs the marketing mix.",
            ),
            _stage(
                "Head of marketing or CMO",
                4,
                ["Leadership", "Brand Management", "Business Strategy"],
                "Leads marketing.",
            ),
        ],
    },
)
