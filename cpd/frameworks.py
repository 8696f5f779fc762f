"""Standards frameworks: the content we ship, loading it, and versioning.

The content below is loaded once by ``cpd/migrations/0002_load_frameworks.py``,
so every database has it. After that, frameworks change only through a new
version: copy the current version into a draft (``framework_draft_create``),
edit the draft in the admin, then publish it (``framework_publish``). Editing
the data below changes nothing in a database that already has the family.

Our own framework is primary: members map their CPD entries to its standards.
The two NHS frameworks have domains but no standards; each of our standards
counts towards some of their domains (the crosswalk), so one entry shows in all
three views. Only the NHS names are taken from the public frameworks; every
description and indicator here is our own writing.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from cpd.models import Domain, Framework, Indicator, Standard

PRIMARY_KEY = "hsm-standards"
HLM_KEY = "nhs-hlm"
LCF_KEY = "nhs-lcf"

LEVELS = ("first_line", "middle", "senior", "executive")


@dataclass(frozen=True, kw_only=True)
class StandardSpec:
    code: str
    title: str
    description: str
    first_line: str
    middle: str
    senior: str
    executive: str
    # Crosswalk: codes of the Healthcare Leadership Model dimensions and board
    # framework domains this standard counts towards.
    hlm: tuple[str, ...]
    lcf: tuple[str, ...]

    @property
    def indicators(self) -> dict[str, str]:
        return {level: getattr(self, level) for level in LEVELS}


@dataclass(frozen=True, kw_only=True)
class DomainSpec:
    code: str
    title: str
    description: str
    standards: tuple[StandardSpec, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FrameworkSpec:
    key: str
    name: str
    short_name: str
    is_primary: bool
    published_on: dt.date
    source_note: str
    domains: tuple[DomainSpec, ...]


# --- Our standards ----------------------------------------------------------------------

OUR_DOMAINS = (
    DomainSpec(
        code="D1",
        title="Leading people and teams",
        description=(
            "Building, supporting and developing teams that are safe, fair and effective, "
            "and in which everyone can contribute."
        ),
        standards=(
            StandardSpec(
                code="D1.1",
                title="Giving the team a clear direction",
                description=(
                    "Makes clear what the team is for, what good looks like and how each person "
                    "contributes, and keeps that in view when pressure mounts."
                ),
                first_line=(
                    "Explains the team's priorities at huddles and one-to-ones, and links each "
                    "person's role to the care or service that patients receive."
                ),
                middle=(
                    "Agrees objectives for the teams in the service that fit the service plan, "
                    "and checks that team leaders explain them consistently."
                ),
                senior=(
                    "Sets a clear direction for the directorate and makes sure each service "
                    "understands how its own goals support it."
                ),
                executive=(
                    "Gives the organisation a shared sense of purpose that staff at every level "
                    "can describe, and tests that it is understood, not just announced."
                ),
                hlm=("HLM1", "HLM5"),
                lcf=("LCF1",),
            ),
            StandardSpec(
                code="D1.2",
                title="Building diverse and inclusive teams",
                description=(
                    "Recruits, develops and promotes people fairly, and builds teams in which "
                    "people from every background feel they belong and can speak up."
                ),
                first_line=(
                    "Uses structured, fair interviews, puts reasonable adjustments in place "
                    "promptly, and challenges excluding or discriminatory behaviour when it "
                    "happens."
                ),
                middle=(
                    "Looks at recruitment, appraisal and disciplinary figures for the service "
                    "by protected characteristic, and acts on any difference found."
                ),
                senior=(
                    "Sets inclusion objectives for the directorate, sponsors staff networks and "
                    "makes diverse shortlists and interview panels the normal practice."
                ),
                executive=(
                    "Holds the organisation to account for its workforce race and disability "
                    "equality measures, and leads visibly on closing gaps in staff experience "
                    "and progression."
                ),
                hlm=("HLM2", "HLM6"),
                lcf=("LCF3", "LCF5"),
            ),
            StandardSpec(
                code="D1.3",
                title="Looking after staff wellbeing and safety",
                description=(
                    "Looks after the health and wellbeing of staff, manages workload and "
                    "sickness absence fairly, and makes it safe to raise concerns."
                ),
                first_line=(
                    "Holds regular wellbeing conversations, manages sickness absence in line "
                    "with policy and with compassion, and acts quickly when someone raises a "
                    "concern."
                ),
                middle=(
                    "Spots patterns of stress, absence or turnover across teams and works with "
                    "occupational health and HR on the causes, not only individual cases."
                ),
                senior=(
                    "Makes sure speaking-up routes work across the directorate and that "
                    "concerns lead to visible action and feedback to the person who raised them."
                ),
                executive=(
                    "Treats staff wellbeing and psychological safety as board-level risks, "
                    "reviewing staff survey and speaking-up data and acting on what they show."
                ),
                hlm=("HLM2", "HLM6"),
                lcf=("LCF5",),
            ),
            StandardSpec(
                code="D1.4",
                title="Developing people",
                description=(
                    "Helps each person grow through appraisal, feedback, coaching and training, "
                    "and plans for who will fill key roles in future."
                ),
                first_line=(
                    "Holds meaningful appraisals on time, agrees development plans, and "
                    "releases staff for mandatory and development training despite rota "
                    "pressures."
                ),
                middle=(
                    "Identifies talent across the service, coaches team leaders in their own "
                    "management practice, and supports apprenticeships and secondments."
                ),
                senior=(
                    "Builds succession plans for key roles in the directorate and makes sure "
                    "development opportunities are offered fairly to all staff groups."
                ),
                executive=(
                    "Makes sure the organisation invests in management and leadership "
                    "development, and that talent management reaches every staff group."
                ),
                hlm=("HLM8", "HLM6"),
                lcf=("LCF5",),
            ),
        ),
    ),
    DomainSpec(
        code="D2",
        title="Collaborative and system leadership",
        description=(
            "Working across teams, organisations and sectors so that patients and service "
            "users experience joined-up care."
        ),
        standards=(
            StandardSpec(
                code="D2.1",
                title="Working across boundaries",
                description=(
                    "Builds working relationships with other teams, departments and "
                    "organisations so that patients move smoothly between services."
                ),
                first_line=(
                    "Knows the teams the service depends on, such as pharmacy, portering, "
                    "social care and GP practices, and sorts out day-to-day hand-off problems "
                    "with them directly."
                ),
                middle=(
                    "Agrees and maintains ways of working with other services, for example on "
                    "referrals, discharge and shared care, and reviews them when things go "
                    "wrong."
                ),
                senior=(
                    "Represents the directorate in place-based and provider collaborative "
                    "forums and agrees shared priorities with partners."
                ),
                executive=(
                    "Leads the organisation's part in the integrated care system, putting "
                    "joint outcomes for the population ahead of organisational interest where "
                    "they conflict."
                ),
                hlm=("HLM4",),
                lcf=("LCF6",),
            ),
            StandardSpec(
                code="D2.2",
                title="Involving patients, carers and communities",
                description=(
                    "Listens to patients, carers and local communities, including those who "
                    "are seldom heard, and uses what they say to shape services."
                ),
                first_line=(
                    "Reviews complaints, compliments and Friends and Family Test feedback with "
                    "the team, makes changes in response and tells people what changed."
                ),
                middle=(
                    "Involves patients and carers in designing service changes, and reaches "
                    "groups who rarely respond to surveys, not only those who usually do."
                ),
                senior=(
                    "Makes sure co-production is planned and paid for in directorate changes, "
                    "and that patient experience information informs decisions."
                ),
                executive=(
                    "Builds lasting relationships with communities, Healthwatch and voluntary "
                    "sector partners, and can show how their views changed the organisation's "
                    "decisions."
                ),
                hlm=("HLM4", "HLM1"),
                lcf=("LCF6", "LCF3"),
            ),
            StandardSpec(
                code="D2.3",
                title="Influencing and negotiating",
                description=(
                    "Builds support for what the service needs with colleagues, partners and "
                    "decision makers, using evidence and a clear case."
                ),
                first_line=(
                    "Puts the team's case clearly to their own manager and to other "
                    "departments, backed by facts, and agrees workable compromises."
                ),
                middle=(
                    "Negotiates with commissioners, clinical leads and support services for "
                    "the resources and changes the service needs, and records what was agreed."
                ),
                senior=(
                    "Builds alliances across the organisation and with partners to win support "
                    "for significant changes."
                ),
                executive=(
                    "Influences system partners, regulators and national bodies on behalf of "
                    "the organisation and the population it serves."
                ),
                hlm=("HLM9",),
                lcf=("LCF6",),
            ),
            StandardSpec(
                code="D2.4",
                title="Sharing capacity and learning across the system",
                description=(
                    "Shares good practice, information and capacity with partners, and takes "
                    "on learning from elsewhere."
                ),
                first_line=(
                    "Offers and accepts help from neighbouring teams at times of pressure, such "
                    "as lending staff, within the agreed rules."
                ),
                middle=(
                    "Shares performance information and lessons from incidents openly with "
                    "partner services, and adopts good practice found elsewhere."
                ),
                senior=(
                    "Leads mutual aid and shared pathways with neighbouring providers, for "
                    "example on waiting lists or scarce specialist staff."
                ),
                executive=(
                    "Commits the organisation to shared system plans, shared data and pooled "
                    "resources where these improve outcomes for the population."
                ),
                hlm=("HLM4", "HLM3"),
                lcf=("LCF6", "LCF1"),
            ),
        ),
    ),
    DomainSpec(
        code="D3",
        title="Performance management and accountability",
        description=(
            "Setting clear expectations, measuring what matters and holding people and "
            "services to account fairly."
        ),
        standards=(
            StandardSpec(
                code="D3.1",
                title="Setting clear objectives and measures",
                description=(
                    "Agrees objectives and measures that reflect what matters to patients and "
                    "staff, and makes sure everyone knows what they are accountable for."
                ),
                first_line=(
                    "Agrees clear objectives with each team member and explains how the "
                    "team's performance is measured, such as waiting times, appraisal rates or "
                    "audit results."
                ),
                middle=(
                    "Turns organisational targets into measures for the service, including "
                    "quality and patient experience alongside activity and finance."
                ),
                senior=(
                    "Sets up a performance framework for the directorate with clear lines of "
                    "accountability and escalation."
                ),
                executive=(
                    "Makes sure the board's performance framework balances safety, quality, "
                    "access, finance and workforce, with clear accountability at every level."
                ),
                hlm=("HLM7", "HLM5"),
                lcf=("LCF4", "LCF1"),
            ),
            StandardSpec(
                code="D3.2",
                title="Using information to understand performance",
                description=(
                    "Gathers, checks and interprets information to understand how the service "
                    "is doing and to act early."
                ),
                first_line=(
                    "Uses the team's dashboards, rosters and audit results to spot problems "
                    "early, and checks that what the team records is accurate."
                ),
                middle=(
                    "Looks at trends across the service with run charts and benchmarks rather "
                    "than single figures, and explains variation to colleagues."
                ),
                senior=(
                    "Makes sure directorate reports are timely and reliable, and checks them "
                    "against what staff and patients say."
                ),
                executive=(
                    "Asks the questions that test whether board information is reliable and "
                    "whether it reflects what patients and staff actually experience."
                ),
                hlm=("HLM3",),
                lcf=("LCF1", "LCF4"),
            ),
            StandardSpec(
                code="D3.3",
                title="Holding people to account fairly",
                description=(
                    "Deals with poor performance and conduct promptly, consistently and "
                    "fairly, in line with policy and a just culture."
                ),
                first_line=(
                    "Raises concerns about performance or conduct early and in private, sets "
                    "clear expectations, and follows the capability or disciplinary policy "
                    "when needed."
                ),
                middle=(
                    "Supports team leaders to manage performance consistently, and checks that "
                    "formal processes are applied fairly to every staff group."
                ),
                senior=(
                    "Reviews formal cases across the directorate for fairness and timeliness, "
                    "and makes sure staff involved are supported throughout."
                ),
                executive=(
                    "Makes sure the organisation follows a just and restorative approach, and "
                    "that the board sees evidence of whether formal processes are fair."
                ),
                hlm=("HLM7",),
                lcf=("LCF5", "LCF4"),
            ),
            StandardSpec(
                code="D3.4",
                title="Reporting honestly and escalating risk",
                description=(
                    "Reports performance honestly and escalates risks and problems promptly to "
                    "the people who can act on them."
                ),
                first_line=(
                    "Reports staffing gaps, incidents and missed standards honestly through "
                    "the right channels, and escalates anything the team cannot resolve."
                ),
                middle=(
                    "Keeps the service risk register up to date and escalates risks with a "
                    "clear account of their impact and the actions already taken."
                ),
                senior=(
                    "Gives accurate, candid reports to executive committees, including bad "
                    "news, with realistic recovery plans."
                ),
                executive=(
                    "Makes sure the board receives candid assurance and that the organisation "
                    "reports openly to regulators, commissioners and the public."
                ),
                hlm=("HLM7", "HLM3"),
                lcf=("LCF4",),
            ),
        ),
    ),
    DomainSpec(
        code="D4",
        title="Quality and continuous improvement",
        description=(
            "Keeping care safe, effective and a good experience for patients, and improving "
            "it steadily."
        ),
        standards=(
            StandardSpec(
                code="D4.1",
                title="Patient safety and learning from incidents",
                description=(
                    "Makes sure incidents are reported, reviewed in proportion and learned "
                    "from, and that patients and families are told openly when things go "
                    "wrong."
                ),
                first_line=(
                    "Encourages staff to report incidents and near misses, supports them "
                    "afterwards, and meets the duty of candour with patients and families."
                ),
                middle=(
                    "Makes sure learning responses are proportionate and completed, and that "
                    "actions are tracked until they have made a difference."
                ),
                senior=(
                    "Looks for themes across incidents, complaints and claims in the "
                    "directorate, and commissions improvement work on them."
                ),
                executive=(
                    "Leads a board-level approach to patient safety that puts learning before "
                    "blame, and checks that safety actions last."
                ),
                hlm=("HLM2", "HLM7"),
                lcf=("LCF1", "LCF4"),
            ),
            StandardSpec(
                code="D4.2",
                title="Meeting regulatory and professional standards",
                description=(
                    "Makes sure the service meets the CQC's fundamental standards and other "
                    "regulatory and professional requirements every day, not only at "
                    "inspection."
                ),
                first_line=(
                    "Knows the standards that apply to the team's work, keeps records and "
                    "training up to date, and fixes gaps without waiting for an inspection."
                ),
                middle=(
                    "Runs regular self-assessment against the CQC's quality statements across "
                    "the service and follows actions through."
                ),
                senior=(
                    "Makes sure the directorate has current evidence of compliance and that "
                    "findings from inspections and peer reviews are acted on."
                ),
                executive=(
                    "Holds the organisation to account for meeting regulatory requirements, "
                    "and is open with regulators about known shortfalls."
                ),
                hlm=("HLM7", "HLM3"),
                lcf=("LCF4",),
            ),
            StandardSpec(
                code="D4.3",
                title="Using improvement methods",
                description=(
                    "Uses a recognised improvement approach to test changes, measure the "
                    "results and spread what works."
                ),
                first_line=(
                    "Involves the team in small tests of change, such as plan-do-study-act "
                    "cycles, and measures whether each change helped."
                ),
                middle=(
                    "Leads improvement projects across the service using data over time, and "
                    "gives staff the time and skills to improve their own work."
                ),
                senior=(
                    "Builds improvement skills across the directorate and makes sure "
                    "successful changes are kept up and spread."
                ),
                executive=(
                    "Makes continuous improvement the organisation's normal way of working, "
                    "with one method, training for staff and board attention to results."
                ),
                hlm=("HLM3", "HLM8"),
                lcf=("LCF1",),
            ),
            StandardSpec(
                code="D4.4",
                title="Improving patient experience",
                description=(
                    "Understands what it is like to use the service and acts to make care "
                    "more respectful, timely and accessible."
                ),
                first_line=(
                    "Walks the patient's route through the team's area, acts on what patients "
                    "say, and makes sure information is accessible to everyone."
                ),
                middle=(
                    "Uses complaints, surveys and patient stories to set experience priorities "
                    "for the service and tracks progress against them."
                ),
                senior=(
                    "Makes sure differences in experience between groups of patients are "
                    "understood and tackled in directorate plans."
                ),
                executive=(
                    "Makes patient experience a core measure of the organisation's success, "
                    "and hears directly from patients at the board."
                ),
                hlm=("HLM2", "HLM1"),
                lcf=("LCF1", "LCF3"),
            ),
        ),
    ),
    DomainSpec(
        code="D5",
        title="Finance and resources",
        description=(
            "Using money, staff, time and buildings carefully, from budgets to workforce "
            "plans and rotas, to deliver safe and sustainable services."
        ),
        standards=(
            StandardSpec(
                code="D5.1",
                title="Managing a budget",
                description=(
                    "Plans, monitors and controls a budget, understands variances and acts in "
                    "good time to stay within it."
                ),
                first_line=(
                    "Understands the team's budget statement, codes spending correctly, goes "
                    "through monthly reports with the finance business partner and explains "
                    "variances."
                ),
                middle=(
                    "Sets and manages service budgets, forecasts the year-end position "
                    "accurately and agrees corrective action early."
                ),
                senior=(
                    "Leads financial planning for the directorate, holds budget holders to "
                    "account and weighs financial targets against quality and safety."
                ),
                executive=(
                    "Secures the organisation's financial sustainability, making sure the "
                    "board understands the risks and the effect of savings on patients and "
                    "staff."
                ),
                hlm=("HLM7", "HLM3"),
                lcf=("LCF1", "LCF4"),
            ),
            StandardSpec(
                code="D5.2",
                title="Planning the workforce and rotas",
                description=(
                    "Plans staffing to meet demand safely, builds fair rotas and keeps the use "
                    "of bank and agency staff under control."
                ),
                first_line=(
                    "Publishes rotas in good time, meets safe staffing levels, balances the "
                    "skill mix and treats requests for flexible working fairly."
                ),
                middle=(
                    "Uses e-rostering and patient acuity information to match staffing to "
                    "demand across teams, and brings down temporary staffing costs."
                ),
                senior=(
                    "Produces workforce plans for the directorate covering recruitment, "
                    "retention, new roles and training pipelines."
                ),
                executive=(
                    "Makes sure the organisation has a credible long-term workforce plan that "
                    "fits the system's, and that safe staffing is reported to the board."
                ),
                hlm=("HLM8", "HLM7"),
                lcf=("LCF1", "LCF5"),
            ),
            StandardSpec(
                code="D5.3",
                title="Value for money and productivity",
                description=(
                    "Looks for ways to achieve better outcomes for the money spent, and makes "
                    "savings without harming quality."
                ),
                first_line=(
                    "Cuts waste in the team's work, such as unused clinic slots, duplicate "
                    "orders or avoidable overtime, and involves staff in finding savings."
                ),
                middle=(
                    "Uses cost and productivity figures, including benchmarking, to find and "
                    "deliver efficiencies, assessing each one for its effect on quality."
                ),
                senior=(
                    "Leads the directorate's cost improvement plans, with quality impact "
                    "assessments signed off by clinical leaders."
                ),
                executive=(
                    "Makes sure the organisation's efficiency programme is realistic, tracked "
                    "and tested for its effect on quality and equality."
                ),
                hlm=("HLM3", "HLM9"),
                lcf=("LCF1",),
            ),
            StandardSpec(
                code="D5.4",
                title="Managing buildings, equipment and contracts",
                description=(
                    "Makes sure buildings, equipment, supplies and contracts are safe, well "
                    "used and properly managed."
                ),
                first_line=(
                    "Makes sure equipment is maintained and checked, stock is managed, and "
                    "faults and estates problems are reported and followed up."
                ),
                middle=(
                    "Manages service contracts and agreements with suppliers against agreed "
                    "standards, and plans when equipment will need replacing."
                ),
                senior=(
                    "Plans the estates, digital and equipment needs of the directorate and "
                    "makes the case for capital investment."
                ),
                executive=(
                    "Makes sure the organisation's assets, contracts and capital programme are "
                    "well governed and support its strategy and net zero commitments."
                ),
                hlm=("HLM7", "HLM4"),
                lcf=("LCF4", "LCF1"),
            ),
        ),
    ),
    DomainSpec(
        code="D6",
        title="Strategy and long-term planning",
        description=(
            "Understanding the wider context and planning services for the longer term, for "
            "the whole population served."
        ),
        standards=(
            StandardSpec(
                code="D6.1",
                title="Understanding population need and the wider context",
                description=(
                    "Understands the health needs of the local population, national policy and "
                    "system plans, and what they mean for the service."
                ),
                first_line=(
                    "Knows who uses the team's service and how demand is changing, and keeps "
                    "the team informed about policy changes that affect their work."
                ),
                middle=(
                    "Uses population health information, including differences between groups "
                    "and areas, to understand future demand for the service."
                ),
                senior=(
                    "Analyses national policy, system plans and population health needs to "
                    "shape the directorate's priorities."
                ),
                executive=(
                    "Makes sure the organisation's strategy is grounded in population health "
                    "need, health inequalities and the system's shared priorities."
                ),
                hlm=("HLM3", "HLM1"),
                lcf=("LCF2", "LCF3"),
            ),
            StandardSpec(
                code="D6.2",
                title="Developing and explaining strategy",
                description=(
                    "Develops a clear plan for the future with staff, patients and partners, "
                    "and explains it in a way people understand."
                ),
                first_line=(
                    "Explains the organisation's strategy to the team in practical terms and "
                    "feeds the team's ideas into service planning."
                ),
                middle=(
                    "Writes the service's annual plan with staff and partners, setting out "
                    "priorities, resources and how progress will be measured."
                ),
                senior=(
                    "Develops a strategy for the directorate over several years that fits the "
                    "organisation's and the system's, and explains it widely."
                ),
                executive=(
                    "Sets the organisation's long-term strategy with the board and partners, "
                    "and keeps it under review as circumstances change."
                ),
                hlm=("HLM5", "HLM1"),
                lcf=("LCF2",),
            ),
            StandardSpec(
                code="D6.3",
                title="Reducing health inequalities",
                description=(
                    "Plans services so that access, experience and outcomes improve fastest "
                    "for the people who currently fare worst."
                ),
                first_line=(
                    "Notices who finds the service hard to use, for example because of "
                    "language, disability or lack of internet access, and makes practical "
                    "changes to help."
                ),
                middle=(
                    "Analyses waiting lists and outcomes by deprivation, ethnicity and other "
                    "factors, and acts on the gaps found."
                ),
                senior=(
                    "Builds targeted action on health inequalities into directorate plans and "
                    "reports on progress."
                ),
                executive=(
                    "Makes reducing health inequalities an explicit board priority with "
                    "measurable goals, pursued with system partners."
                ),
                hlm=("HLM1", "HLM4"),
                lcf=("LCF3",),
            ),
            StandardSpec(
                code="D6.4",
                title="Planning for resilience and sustainability",
                description=(
                    "Prepares the service for emergencies and winter pressures, and for "
                    "long-term financial and environmental sustainability."
                ),
                first_line=(
                    "Knows and tests the team's business continuity plan, and plays the team's "
                    "part in winter and surge planning."
                ),
                middle=(
                    "Leads business continuity and surge planning for the service, and builds "
                    "actions such as cutting waste and travel into service plans."
                ),
                senior=(
                    "Makes sure directorate plans cover emergency preparedness, long-term "
                    "demand and environmental sustainability."
                ),
                executive=(
                    "Makes sure the organisation meets its emergency preparedness duties and "
                    "has a credible plan to meet its net zero commitments."
                ),
                hlm=("HLM5", "HLM3"),
                lcf=("LCF2", "LCF1"),
            ),
        ),
    ),
    DomainSpec(
        code="D7",
        title="Project and change management",
        description="Planning and delivering change well, with the people it affects.",
        standards=(
            StandardSpec(
                code="D7.1",
                title="Planning and running projects",
                description=(
                    "Defines, plans and runs projects with a clear scope, milestones, risks "
                    "and benefits, and keeps them on track."
                ),
                first_line=(
                    "Plans small projects with clear tasks, owners and dates, keeps a simple "
                    "risk log and reports progress honestly."
                ),
                middle=(
                    "Runs service projects with a business case, a project plan, risk and "
                    "issue logs and regular reports to a project board."
                ),
                senior=(
                    "Oversees the directorate's portfolio of projects, setting priorities "
                    "between them and making sure their benefits are realised."
                ),
                executive=(
                    "Makes sure the organisation's major programmes have sound governance, "
                    "realistic plans and independent assurance."
                ),
                hlm=("HLM7", "HLM3"),
                lcf=("LCF2",),
            ),
            StandardSpec(
                code="D7.2",
                title="Leading people through change",
                description=(
                    "Involves staff in change, explains the reasons honestly, and supports "
                    "people through uncertainty."
                ),
                first_line=(
                    "Talks with the team early about changes that affect them, listens to "
                    "concerns and supports individuals who find change hard."
                ),
                middle=(
                    "Runs fair consultations on changes to services and roles, working with HR "
                    "and staff-side representatives."
                ),
                senior=(
                    "Leads large changes in a way that keeps staff engaged and services safe, "
                    "and learns from the people affected."
                ),
                executive=(
                    "Shapes the organisation's approach to change so that it is open, "
                    "consistent and respectful of staff and patients."
                ),
                hlm=("HLM6", "HLM2", "HLM5"),
                lcf=("LCF5", "LCF2"),
            ),
            StandardSpec(
                code="D7.3",
                title="Assessing the impact of change",
                description=(
                    "Assesses the effects of a proposed change on quality, equality, staff and "
                    "finances before deciding, and checks the results afterwards."
                ),
                first_line=(
                    "Thinks through who a change to the team's work could affect, including "
                    "patients with protected characteristics, and checks afterwards whether "
                    "it worked."
                ),
                middle=(
                    "Completes quality and equality impact assessments for service changes and "
                    "reviews them once the change is in place."
                ),
                senior=(
                    "Makes sure impact assessments in the directorate are done properly, "
                    "involve clinicians and change plans where they need to."
                ),
                executive=(
                    "Makes sure the board sees honest impact assessments before it decides, "
                    "and reviews after major changes have been made."
                ),
                hlm=("HLM3", "HLM7"),
                lcf=("LCF3", "LCF4"),
            ),
            StandardSpec(
                code="D7.4",
                title="Adopting digital tools and new ways of working",
                description=(
                    "Introduces digital tools and new ways of working safely, making sure "
                    "staff and patients can use them."
                ),
                first_line=(
                    "Helps the team adopt new systems, such as electronic patient records or "
                    "e-rostering, by making time for training and reporting problems."
                ),
                middle=(
                    "Leads the introduction of digital tools in the service, with clinical "
                    "safety checks, training, and support for patients who are not online."
                ),
                senior=(
                    "Makes sure the directorate's digital plans are realistic, safe and "
                    "designed with their users, and reduce workload rather than add to it."
                ),
                executive=(
                    "Leads the organisation's digital strategy, including data protection, "
                    "cyber security and digital inclusion."
                ),
                hlm=("HLM8", "HLM9"),
                lcf=("LCF2", "LCF3"),
            ),
        ),
    ),
    DomainSpec(
        code="D8",
        title="Managing self and professional conduct",
        description=(
            "Acting with integrity, looking after yourself, and keeping your knowledge and "
            "skills up to date."
        ),
        standards=(
            StandardSpec(
                code="D8.1",
                title="Acting with integrity",
                description=(
                    "Acts honestly, openly and in the public interest, and declares and "
                    "manages conflicts of interest."
                ),
                first_line=(
                    "Is honest with patients, staff and managers, keeps confidences "
                    "appropriately, and declares gifts, hospitality and conflicts of interest."
                ),
                middle=(
                    "Makes decisions openly and fairly, records the reasons, and challenges "
                    "behaviour that falls short of the organisation's values."
                ),
                senior=(
                    "Sets an example of openness and integrity, including when that is "
                    "uncomfortable personally or for the organisation."
                ),
                executive=(
                    "Meets the standards expected of board members, including the fit and "
                    "proper person requirements, and promotes a culture of candour."
                ),
                hlm=("HLM7", "HLM1"),
                lcf=("LCF4", "LCF5"),
            ),
            StandardSpec(
                code="D8.2",
                title="Self-awareness and resilience",
                description=(
                    "Understands their own strengths, limits and effect on others, and looks "
                    "after their own wellbeing so they can lead well under pressure."
                ),
                first_line=(
                    "Asks the team for feedback on their management, reflects on it, and "
                    "knows when to ask for help."
                ),
                middle=(
                    "Uses 360-degree feedback, supervision or coaching to understand their "
                    "impact, and adapts their style to the situation."
                ),
                senior=(
                    "Manages their own workload and wellbeing sustainably, and shows others "
                    "that it is acceptable to do the same."
                ),
                executive=(
                    "Reflects on how their behaviour shapes the culture of the organisation, "
                    "and seeks challenge from peers and the board."
                ),
                hlm=("HLM2", "HLM8"),
                lcf=("LCF5",),
            ),
            StandardSpec(
                code="D8.3",
                title="Keeping knowledge and skills up to date",
                description=(
                    "Plans and records continuing professional development, and uses what "
                    "they learn to improve the service."
                ),
                first_line=(
                    "Keeps a CPD record, completes mandatory training and reflects on how "
                    "learning has changed their practice."
                ),
                middle=(
                    "Plans CPD against these standards with their line manager and shares "
                    "useful learning with colleagues."
                ),
                senior=(
                    "Keeps up to date with research, policy and management practice, and "
                    "supports other managers' professional development."
                ),
                executive=(
                    "Keeps their board-level knowledge current, including governance, finance "
                    "and regulation, and champions management as a profession."
                ),
                hlm=("HLM8",),
                lcf=("LCF1",),
            ),
            StandardSpec(
                code="D8.4",
                title="Communicating and working relationships",
                description=(
                    "Communicates clearly and respectfully in person and in writing, and "
                    "handles disagreement constructively."
                ),
                first_line=(
                    "Communicates clearly with staff, patients and colleagues, adapting the "
                    "message to the audience, and deals with disagreement calmly."
                ),
                middle=(
                    "Writes clear papers and briefings, chairs meetings well and resolves "
                    "conflict between teams."
                ),
                senior=(
                    "Speaks with confidence to senior audiences and the public, and keeps "
                    "relationships constructive under pressure."
                ),
                executive=(
                    "Represents the organisation credibly to the public, media, regulators and "
                    "partners, and models respectful challenge at the board."
                ),
                hlm=("HLM6", "HLM9"),
                lcf=("LCF6", "LCF5"),
            ),
        ),
    ),
)


# --- The NHS frameworks (names from the public frameworks; descriptions ours) -------------

HLM_DOMAINS = (
    DomainSpec(
        code="HLM1",
        title="Inspiring shared purpose",
        description=(
            "Acting on the values of public service and helping colleagues see how their work "
            "makes a difference to patients."
        ),
    ),
    DomainSpec(
        code="HLM2",
        title="Leading with care",
        description=(
            "Paying attention to how colleagues are doing and keeping the workplace safe and "
            "supportive, while looking after your own wellbeing too."
        ),
    ),
    DomainSpec(
        code="HLM3",
        title="Evaluating information",
        description=(
            "Gathering information and views from many sources, testing them critically and "
            "using them to make sound decisions."
        ),
    ),
    DomainSpec(
        code="HLM4",
        title="Connecting our service",
        description=(
            "Understanding how the service fits with others across health and care, and "
            "building links so patients get joined-up care."
        ),
    ),
    DomainSpec(
        code="HLM5",
        title="Sharing the vision",
        description=(
            "Describing a clear, believable picture of the future and explaining it so that "
            "people understand it and want to be part of it."
        ),
    ),
    DomainSpec(
        code="HLM6",
        title="Engaging the team",
        description=(
            "Involving people in decisions, valuing their ideas and making the most of "
            "everyone's contribution."
        ),
    ),
    DomainSpec(
        code="HLM7",
        title="Holding to account",
        description=(
            "Agreeing clear expectations, giving honest feedback and following through so "
            "that standards of care and work are met."
        ),
    ),
    DomainSpec(
        code="HLM8",
        title="Developing capability",
        description=(
            "Helping people, yourself included, to learn and grow, and building the skills the "
            "service will need in future."
        ),
    ),
    DomainSpec(
        code="HLM9",
        title="Influencing for results",
        description=(
            "Choosing how best to persuade and build support, inside and outside the "
            "organisation, to get things done for patients."
        ),
    ),
)

LCF_DOMAINS = (
    DomainSpec(
        code="LCF1",
        title="Driving high-quality and sustainable outcomes",
        description=(
            "Making sure the organisation delivers safe, effective care and good results for "
            "patients within its means, now and in the years ahead."
        ),
    ),
    DomainSpec(
        code="LCF2",
        title="Setting strategy and delivering long-term transformation",
        description=(
            "Setting a long-term direction with partners and leading the large-scale change "
            "needed to get there."
        ),
    ),
    DomainSpec(
        code="LCF3",
        title="Promoting equality and inclusion, and reducing health and workforce inequalities",
        description=(
            "Making fairness for patients and staff a measurable priority, and closing gaps in "
            "access, experience, outcomes and careers."
        ),
    ),
    DomainSpec(
        code="LCF4",
        title="Providing robust governance and assurance",
        description=(
            "Making sure the board has reliable information, clear accountability and "
            "effective controls, and acts on what they show."
        ),
    ),
    DomainSpec(
        code="LCF5",
        title="Creating a compassionate, just and positive culture",
        description=(
            "Building a culture in which people are treated fairly and kindly, feel safe to "
            "speak up and are supported to learn when things go wrong."
        ),
    ),
    DomainSpec(
        code="LCF6",
        title="Building a trusted relationship with partners and communities",
        description=(
            "Working openly with system partners, the public and local communities so that "
            "they trust the organisation and help shape its decisions."
        ),
    ),
)

FRAMEWORKS = (
    FrameworkSpec(
        key=HLM_KEY,
        name="NHS Healthcare Leadership Model",
        short_name="Healthcare Leadership Model",
        is_primary=False,
        published_on=dt.date(2026, 1, 1),
        source_note=(
            "The nine dimension names come from the NHS Healthcare Leadership Model, "
            "published by the NHS Leadership Academy. The descriptions are our own, written "
            "for this register; they are not the model's text."
        ),
        domains=HLM_DOMAINS,
    ),
    FrameworkSpec(
        key=LCF_KEY,
        name="NHS Leadership Competency Framework for board members",
        short_name="Board competency framework",
        is_primary=False,
        published_on=dt.date(2026, 1, 1),
        source_note=(
            "The six domain names come from the NHS Leadership Competency Framework for board "
            "members, published by NHS England. The descriptions are our own, written for "
            "this register; they are not the framework's text."
        ),
        domains=LCF_DOMAINS,
    ),
    FrameworkSpec(
        key=PRIMARY_KEY,
        name="Management Standards for Health Service Managers",
        short_name="Our standards",
        is_primary=True,
        published_on=dt.date(2026, 1, 1),
        source_note="Written by us for managers at every level of health services.",
        domains=OUR_DOMAINS,
    ),
)

CROSSWALK_FAMILIES = {HLM_KEY: "hlm", LCF_KEY: "lcf"}


def frameworks_load(apps) -> list[str]:
    """Create each shipped framework family that the database does not have yet.

    Works with the historical models of a data migration (pass its ``apps``) or
    with ``django.apps.apps``. A family that exists is left alone, whatever
    its versions say. Crosswalk links are added where at least one side was
    created now, between the current versions. Returns the keys created.
    """
    FrameworkModel = apps.get_model("cpd", "Framework")
    DomainModel = apps.get_model("cpd", "Domain")
    StandardModel = apps.get_model("cpd", "Standard")
    IndicatorModel = apps.get_model("cpd", "Indicator")

    created: list[str] = []
    for spec in FRAMEWORKS:
        if FrameworkModel.objects.filter(key=spec.key).exists():
            continue
        framework = FrameworkModel.objects.create(
            key=spec.key,
            name=spec.name,
            short_name=spec.short_name,
            version=1,
            status="current",
            published_on=spec.published_on,
            is_primary=spec.is_primary,
            source_note=spec.source_note,
        )
        indicators = []
        for domain_order, domain_spec in enumerate(spec.domains, start=1):
            domain = DomainModel.objects.create(
                framework=framework,
                code=domain_spec.code,
                title=domain_spec.title,
                description=domain_spec.description,
                order=domain_order,
            )
            for order, standard_spec in enumerate(domain_spec.standards, start=1):
                standard = StandardModel.objects.create(
                    framework=framework,
                    domain=domain,
                    code=standard_spec.code,
                    title=standard_spec.title,
                    description=standard_spec.description,
                    order=order,
                )
                indicators.extend(
                    IndicatorModel(standard=standard, level=level, text=text)
                    for level, text in standard_spec.indicators.items()
                )
        IndicatorModel.objects.bulk_create(indicators)
        created.append(spec.key)

    if created:
        _crosswalk_link(apps, created)
    return created


def _crosswalk_link(apps, created: list[str]) -> None:
    StandardModel = apps.get_model("cpd", "Standard")
    DomainModel = apps.get_model("cpd", "Domain")
    Through = StandardModel._meta.get_field("counts_towards").remote_field.through

    standards = {
        s.code: s
        for s in StandardModel.objects.filter(
            framework__key=PRIMARY_KEY, framework__status="current"
        )
    }
    domains = {
        (d.framework.key, d.code): d
        for d in DomainModel.objects.filter(
            framework__key__in=CROSSWALK_FAMILIES, framework__status="current"
        ).select_related("framework")
    }
    links = []
    for domain_spec in OUR_DOMAINS:
        for spec in domain_spec.standards:
            for family, field_name in CROSSWALK_FAMILIES.items():
                if PRIMARY_KEY not in created and family not in created:
                    continue
                for code in getattr(spec, field_name):
                    standard, domain = standards.get(spec.code), domains.get((family, code))
                    # A registrar may since have renamed a code in a later version: skip it.
                    if standard and domain:
                        links.append(Through(standard=standard, domain=domain))
    Through.objects.bulk_create(links, ignore_conflicts=True)


# --- Versioning -------------------------------------------------------------------------


class FrameworkError(Exception):
    """A versioning step that is not allowed; the message is written for the registrar."""


def _family_lock(framework: Framework) -> tuple[Framework, list[Framework]]:
    """Lock every version of the framework's family, then read the family afresh.

    The second read matters on PostgreSQL: a locking read that had to wait for
    another writer still misses rows that writer inserted (a new draft), while a
    new statement after the lock sees them. Rows are locked in one order, so two
    callers cannot deadlock. Returns the fresh row for ``framework`` and the family.
    """
    locked = Framework.objects.select_for_update().filter(key=framework.key)
    list(locked.order_by("version", "pk").values_list("pk", flat=True))
    family = list(Framework.objects.filter(key=framework.key).order_by("version", "pk"))
    fresh = next((f for f in family if f.pk == framework.pk), None)
    if fresh is None:
        raise FrameworkError("That framework no longer exists.")
    return fresh, family


def _copy_pk(copies: dict, pk: int) -> int:
    return copies[pk].pk if pk in copies else pk


@transaction.atomic
def framework_draft_create(*, framework: Framework, actor=None) -> Framework:
    """Copy the current version of a framework into a new draft, one version up.

    The copy is deep: domains, standards, level indicators, the crosswalk links
    from its standards to other frameworks' domains, and the links into its
    domains from other frameworks' standards. The current version and
    everything that points at it (members' entries) are untouched. A family
    has at most one draft: a second request is refused.
    """
    source, family = _family_lock(framework)
    if source.status != Framework.Status.CURRENT:
        raise FrameworkError(
            f"Version {source.version} is {source.get_status_display().lower()}: "
            "only the current version can be copied into a draft."
        )
    existing = next((f for f in family if f.status == Framework.Status.DRAFT), None)
    if existing is not None:
        raise FrameworkError(
            f"{source.name} already has a draft (version {existing.version}): "
            "edit or publish that one first."
        )

    draft = Framework.objects.create(
        key=source.key,
        name=source.name,
        short_name=source.short_name,
        version=max(f.version for f in family) + 1,
        status=Framework.Status.DRAFT,
        published_on=None,
        is_primary=source.is_primary,
        source_note=source.source_note,
    )
    domain_copies: dict[int, Domain] = {}
    for domain in source.domains.order_by("order", "pk"):
        domain_copies[domain.pk] = Domain.objects.create(
            framework=draft,
            code=domain.code,
            title=domain.title,
            description=domain.description,
            order=domain.order,
        )
    standard_copies: dict[int, Standard] = {}
    for standard in source.standards.order_by("order", "pk"):
        standard_copies[standard.pk] = Standard.objects.create(
            framework=draft,
            domain=domain_copies[standard.domain_id],
            code=standard.code,
            title=standard.title,
            description=standard.description,
            order=standard.order,
        )
    Indicator.objects.bulk_create(
        Indicator(standard=standard_copies[i.standard_id], level=i.level, text=i.text)
        for i in Indicator.objects.filter(standard__framework=source).order_by("pk")
    )

    # Each side of a link that belongs to the source version moves to its copy;
    # the other side (another framework's row) stays as it is.
    through = Standard.counts_towards.through
    links = through.objects.filter(Q(standard__framework=source) | Q(domain__framework=source))
    through.objects.bulk_create(
        (
            through(
                standard_id=_copy_pk(standard_copies, standard_id),
                domain_id=_copy_pk(domain_copies, domain_id),
            )
            for standard_id, domain_id in links.order_by("pk").values_list(
                "standard_id", "domain_id"
            )
        ),
        ignore_conflicts=True,
    )
    audit_record(
        action=Action.FRAMEWORK_DRAFTED,
        subject_type="cpd.framework",
        subject_id=f"{draft.key}:v{draft.version}",
        actor=actor,
        after={"from_version": source.version, "version": draft.version},
    )
    return draft


@transaction.atomic
def framework_publish(*, framework: Framework, actor=None) -> Framework:
    """Make a draft the current version of its family, retiring the one before.

    The old current version is retired before the draft becomes current, so the
    "one current version per family" constraint holds at every step. Publishing
    a version that is already current returns it unchanged (a retry or a double
    click); a retired version, or a draft older than the current one, is refused.
    Nothing is moved: entries mapped to the old version keep pointing at it.
    """
    target, family = _family_lock(framework)
    if target.status == Framework.Status.CURRENT:
        return target
    if target.status == Framework.Status.RETIRED:
        raise FrameworkError(
            f"Version {target.version} has been retired and cannot be published again; "
            "copy the current version into a draft instead."
        )
    current = [f for f in family if f.status == Framework.Status.CURRENT]
    if any(f.version > target.version for f in current):
        raise FrameworkError(
            f"Version {target.version} is older than the current version and cannot be published."
        )
    if not target.domains.exists():
        raise FrameworkError(f"Version {target.version} has no domains yet.")

    Framework.objects.filter(pk__in=[f.pk for f in current]).update(status=Framework.Status.RETIRED)
    target.status = Framework.Status.CURRENT
    target.published_on = timezone.localdate()
    target.save(update_fields=["status", "published_on"])
    audit_record(
        action=Action.FRAMEWORK_PUBLISHED,
        subject_type="cpd.framework",
        subject_id=f"{target.key}:v{target.version}",
        actor=actor,
        before={"current": [f.version for f in current]},
        after={"current": target.version, "published_on": target.published_on},
    )
    return target
