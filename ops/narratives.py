"""What the demo's reports say: narrative templates by kind and category, where and when things
happen, indicator codes, handling conditions, and how often each category and TLP label occurs.

Indicator codes are ERG22+ factor numbers (engagement 1-13, intent 14-19, capability 20-22) and
VERA-2R-style domain codes; they are illustrative, not the frameworks' items. A template's
``{place}`` and ``{when}`` are filled from :data:`PLACES` and :data:`WHEN`.
"""

from __future__ import annotations

__all__ = [
    "CATEGORY_WEIGHTS",
    "COMPANIONS",
    "CONDITIONS",
    "EXTREMISM",
    "INCIDENT",
    "INDICATORS",
    "OBSERVATION",
    "PLACES",
    "TLP_WEIGHTS",
    "WHEN",
]

PLACES = ("exercise yard", "workshop", "library", "visiting area", "dormitory", "canteen",
          "education block", "medical unit")  # fmt: skip
"""Where in a facility a narrative places what happened."""
WHEN = ("during the afternoon count", "at morning unlock", "during evening association",
        "during the weekly search", "shortly after the midday meal")  # fmt: skip
"""When in the prison day it happened."""
INCIDENT = {
    "RECRUITMENT": (
        "Subject was seen approaching recently admitted prisoners in the {place} {when} and "
        "offering them protection in return for joining his study circle. Staff intervened.",
        "Subject was seen handing written material to a newly transferred prisoner in the "
        "{place} {when}; the material was retained for assessment.",
    ),
    "RADICALISATION_ACTIVITY": (
        "Subject led an unauthorised group meeting in the {place} {when}; participants left when "
        "staff arrived. Content of the meeting not known.",
    ),
    "EXTREMIST_MATERIAL": (
        "Printed material of a proscribed organisation was found concealed in the {place} "
        "{when}; seized and logged.",
        "A memory card holding audio files of a proscribed preacher was found in Subject's "
        "possession in the {place}; passed to the analyst for review.",
    ),
    "VIOLENCE": (
        "Subject assaulted another prisoner in the {place} {when}; the victim was treated in the "
        "medical unit. The victim had recently distanced himself from an extremist group.",
        "Fight between two groups of prisoners in the {place} {when}; CCTV identifies Subject "
        "as the instigator.",
    ),
    "THREAT": (
        "Subject threatened a member of staff in the {place} {when} after a disciplinary "
        "decision; recorded on body-worn camera.",
    ),
    "CONTRABAND": (
        "A mobile phone and charger were found concealed in the {place} {when}.",
        "A visitor attempted to pass a SIM card to Subject in the visiting area; the item was "
        "seized and the visit ended.",
    ),
    "ILLICIT_COMMUNICATION": (
        "Letters in an apparent code, addressed to an outside contact, were intercepted in "
        "Subject's outgoing mail; content under analysis.",
    ),
    "ESCAPE_RISK": (
        "Uncorroborated information indicates Subject is planning an escape during an "
        "upcoming hospital escort.",
        "Damage to window bars in the {place} was found {when}; Subject's cell adjoins it.",
    ),
    "STAFF_CORRUPTION": (
        "Information suggests an officer assigned to the {place} brings unauthorised items to "
        "Subject for payment. Referred to the professional standards unit.",
    ),
    "DISORDER": (
        "A group of prisoners refused to leave the {place} {when}; resolved by negotiation "
        "without force.",
    ),
    "OTHER": (
        "Subject asked to be moved from the {place}, citing pressure from other prisoners; "
        "request under review.",
    ),
}
"""Incident narratives by category: every category has at least one."""
OBSERVATION = {
    "RECRUITMENT": (
        "Over several weeks Subject has built a following among younger prisoners in the "
        "{place}, who now defer to him in disputes.",
    ),
    "RADICALISATION_ACTIVITY": (
        "Case worker records Subject's withdrawal from the education programme and increasingly "
        "open approval of violence in group sessions.",
        "Subject has stopped attending the rehabilitation programme and now spends time only "
        "with prisoners convicted of terrorist offences.",
    ),
    "EXTREMIST_MATERIAL": (
        "Subject repeatedly asks for publications on the prohibited list and copies passages "
        "into notebooks kept in the {place}.",
    ),
    "THREAT": (
        "Subject's remarks about staff supervising the {place} have become hostile and "
        "specific; no direct threat made yet.",
    ),
}
"""Observation narratives: only these categories are ever observations."""
INDICATORS = [
    *[(f"ERG-{n}", "ERG22+") for n in range(1, 23)],
    *[(f"VERA-{d}{n}", "VERA-2R") for d in ("BA", "CI", "HC", "CM") for n in range(1, 6)],
]
"""``(code, framework)`` pairs an observation draws its indicators from."""
CONDITIONS = (
    "No onward disclosure without the originating unit's consent.",
    "Not to be used as evidence without reference to the originating unit.",
    "Not to be disclosed to the subject or the subject's representatives.",
)
"""The conditions a report of handling code C carries, one drawn per report."""
CATEGORY_WEIGHTS = {
    "RECRUITMENT": 12, "RADICALISATION_ACTIVITY": 15, "EXTREMIST_MATERIAL": 12, "VIOLENCE": 10,
    "THREAT": 6, "CONTRABAND": 15, "ILLICIT_COMMUNICATION": 10, "ESCAPE_RISK": 4,
    "STAFF_CORRUPTION": 4, "DISORDER": 8, "OTHER": 4,
}  # fmt: skip
"""Relative frequency of each category among the demo's reports."""
TLP_WEIGHTS = {"CLEAR": 4, "GREEN": 18, "AMBER": 50, "AMBER+STRICT": 18, "RED": 10}
"""Relative frequency of each TLP label."""
EXTREMISM = {"RECRUITMENT", "RADICALISATION_ACTIVITY", "EXTREMIST_MATERIAL", "THREAT",
             "ILLICIT_COMMUNICATION"}  # fmt: skip
"""Categories whose main subject is usually a violent-extremist prisoner."""
COMPANIONS = {"RECRUITMENT": "ASSOCIATE", "VIOLENCE": "VICTIM", "DISORDER": "ASSOCIATE"}
"""The role of the other people a report of these categories names besides its subject."""
