"""Synthetic but realistic tutoring texts over the real taxonomy: tutors' bios per topic, and
a labelled evaluation set of learning needs written the way students write them — mostly
without the topic's own words, so word matching alone cannot find the right tutor."""

from __future__ import annotations

import random
from typing import Any

#: Bio templates; {topic} and {subject} are filled in. Several phrases are ones students
#: search for ("past papers", "step by step"), so the word index has something to match.
BIO_TEMPLATES = (
    "I help students get confident with {topic} in {subject}, step by step, with worked examples.",
    "{topic} explained clearly: practice problems, feedback on your attempts and past papers.",
    "Patient {subject} tutor. My favourite topic to teach is {topic}; I use visual examples and diagrams.",
    "Struggling with {topic}? We work through your homework together until it clicks.",
    "Exam-focused sessions on {topic} for {subject} students, with revision plans and timed practice.",
    "Former teaching assistant for {subject}; I specialise in {topic} and building intuition.",
)

#: One learning need per topic of the default taxonomy, in a learner's words, labelled with
#: the (subject, topic) that answers it.
NEEDS: dict[tuple[str, str], str] = {
    ("mathematics.algebra-i", "Linear equations"): "how do I solve for x when it appears on both sides",
    ("mathematics.algebra-i", "Quadratics"): "x squared problems and that formula with the square root keep beating me",
    ("mathematics.algebra-i", "Inequalities"): "when do I flip the less-than sign while solving",
    ("mathematics.algebra-i", "Functions"): "what does f of x mean and how do I find the domain",
    ("mathematics.geometry", "Triangles"): "similar shapes with three sides and the Pythagoras rule",
    ("mathematics.geometry", "Circles"): "arc length, radius and the area of a round shape",
    ("mathematics.geometry", "Proofs"): "writing a formal argument that two angles are equal",
    ("mathematics.calculus-i", "Limits"): "what happens to a function as x approaches a value",
    ("mathematics.calculus-i", "Derivatives"): "finding the slope of a curve and rates of change",
    ("mathematics.calculus-i", "Integrals"): "area under a curve and antiderivatives",
    ("mathematics.linear-algebra", "Matrices"): "multiplying grids of numbers and finding an inverse",
    ("mathematics.linear-algebra", "Eigenvalues"): "characteristic polynomial and diagonalising a transformation",
    ("mathematics.linear-algebra", "Vector spaces"): "span, basis and linear independence confuse me",
    ("mathematics.statistics", "Probability"): "chances of drawing two red cards and dice questions",
    ("mathematics.statistics", "Hypothesis testing"): "p-values, null hypothesis and significance levels",
    ("mathematics.statistics", "Regression"): "fitting a line of best fit to data and interpreting the slope",
    ("sciences.physics", "Mechanics"): "forces, acceleration and Newton's laws problems",
    ("sciences.physics", "Electricity and magnetism"): "circuits, current, resistors and magnetic fields",
    ("sciences.physics", "Waves"): "frequency, wavelength and interference of sound and light",
    ("sciences.physics", "Thermodynamics"): "heat engines, entropy and the laws of energy transfer",
    ("sciences.chemistry", "Stoichiometry"): "balancing equations and calculating moles and molar mass",
    ("sciences.chemistry", "Organic chemistry"): "carbon compounds, functional groups and reaction mechanisms",
    ("sciences.chemistry", "Acids and bases"): "pH calculations, titration and buffers",
    ("sciences.biology", "Cell biology"): "mitochondria, membranes and what organelles do",
    ("sciences.biology", "Genetics"): "DNA, inheritance, Punnett squares and alleles",
    ("sciences.biology", "Ecology"): "food webs, ecosystems and population dynamics",
    ("computing.introduction-to-programming", "Python"): "my first scripts in a snake-named language keep erroring",
    ("computing.introduction-to-programming", "Control flow"): "if statements and loops in my first program",
    ("computing.introduction-to-programming", "Functions"):
        "how to define reusable code blocks with parameters and return values",
    ("computing.data-structures-and-algorithms", "Sorting"): "quicksort versus mergesort and putting lists in order",
    ("computing.data-structures-and-algorithms", "Graphs"): "shortest path, breadth-first search and nodes with edges",
    ("computing.data-structures-and-algorithms", "Dynamic programming"):
        "memoisation and breaking a problem into overlapping subproblems",
    ("computing.databases", "SQL"): "writing select queries with joins and group by",
    ("computing.databases", "Data modelling"): "designing tables, entity relationship diagrams and normal forms",
    ("computing.web-development", "HTML and CSS"): "laying out a web page and styling it with flexbox",
    ("computing.web-development", "JavaScript"): "making buttons interactive in the browser with event listeners",
    ("languages.english-writing", "Essays"): "structuring a five-paragraph argument with a thesis",
    ("languages.english-writing", "Grammar"): "commas, apostrophes and subject-verb agreement in English",
    ("languages.english-writing", "Academic writing"): "formal tone for a dissertation and paraphrasing sources",
    ("languages.spanish", "Conversation"): "speaking practice so I can chat with people in Madrid",
    ("languages.spanish", "Grammar"): "ser versus estar and the subjunctive",
    ("languages.french", "Conversation"): "talking confidently on my exchange year in Paris",
    ("languages.french", "Grammar"): "passé composé versus imparfait and gendered nouns",
    ("languages.mandarin-chinese", "Characters"): "remembering hanzi stroke order and radicals",
    ("languages.mandarin-chinese", "Conversation"): "speaking with tones so people in Beijing understand me",
    ("humanities-and-social-sciences.history", "Modern history"): "causes of the world wars and the cold war",
    ("humanities-and-social-sciences.history", "Essay technique"): "how to argue about historical sources in an essay",
    ("humanities-and-social-sciences.economics", "Microeconomics"): "supply and demand curves, elasticity and firms",
    ("humanities-and-social-sciences.economics", "Macroeconomics"): "inflation, GDP, interest rates and fiscal policy",
    ("humanities-and-social-sciences.psychology", "Research methods"):
        "designing an experiment with control groups and variables",
    ("humanities-and-social-sciences.psychology", "Cognitive psychology"):
        "memory, attention and how the mind processes information",
    ("study-skills.exam-preparation", "Revision planning"): "making a timetable to study for finals without cramming",
    ("study-skills.exam-preparation", "Past papers"): "practising old exam questions under timed conditions",
    ("study-skills.research-skills", "Literature review"): "finding and summarising previous studies for my thesis",
    ("study-skills.research-skills", "Referencing"): "citing sources in APA and Harvard style",
}


def subjects() -> list[tuple[str, str, str, list[str]]]:
    """(subject id, name, area, topics) from catalog's seeded taxonomy."""
    from catalog.domain.taxonomy import DEFAULT, slug

    return [(slug(a, s), s, a, list(topics)) for a, subs in DEFAULT.items() for s, topics in subs.items()]


def bio(rnd: random.Random, subject: str, topic: str) -> str:
    return rnd.choice(BIO_TEMPLATES).format(subject=subject, topic=topic)


def check_needs_cover_taxonomy() -> None:
    wanted = {(sid, t) for sid, _, _, topics in subjects() for t in topics}
    missing = wanted - set(NEEDS)
    assert not missing, f"evaluation needs missing for {sorted(missing)}"


def relevance(need: tuple[str, str], tutor: dict[str, Any]) -> int:
    """Graded label: 3 teaches the topic, 1 teaches the subject, 0 otherwise."""
    if tutor["subject"] == need[0]:
        return 3 if tutor["topic"] == need[1] else 1
    return 0
