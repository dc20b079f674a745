"""Deterministic "model" answers that make the crmflow demo use cases real.

The task is recognised from the instructions (then the prompt): US state -> code,
prospecting email, lead rating, record summary; anything else gets a plausible echo.
The same input always gives the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from .states import find_state_code

HOT_SIGNALS = (
    "buy", "purchase", "pricing", "price", "quote", "demo", "urgent", "asap", "budget",
    "this quarter", "contract", "ready to", "sign up", "decision", "trial", "license",
)  # fmt: skip
COLD_SIGNALS = (
    "student", "just browsing", "job", "career", "internship", "resume", "homework",
    "not interested", "unsubscribe", "spam", "casino", "crypto", "seo services",
    "click here", "winner", "viagra", "backlinks",
)  # fmt: skip
WARM_SIGNALS = (
    "interested", "learn more", "information", "info", "curious", "considering",
    "evaluate", "compare", "webinar", "newsletter", "question", "how does",
)  # fmt: skip

NAME_FIELDS = (
    "first name",
    "firstname",
    "first_name",
    "contact name",
    "contact",
    "name",
    "full name",
    "recipient",
    "prénom",
)
COMPANY_FIELDS = (
    "company",
    "company name",
    "company_name",
    "organization",
    "organisation",
    "account",
    "entreprise",
)
SENDER_FIELDS = (
    "sender",
    "from",
    "owner",
    "sales rep",
    "rep",
    "signature",
    "signed",
    "my name",
    "contact owner",
    "expéditeur",
)
RATINGS = ("HOT", "WARM", "COLD")


def _signals(text: str, words: tuple[str, ...]) -> list[str]:
    return [w for w in words if re.search(rf"\b{re.escape(w)}", text)]


def parse_fields(prompt: str) -> dict[str, str]:
    """`key: value` / `key = value` pairs found on lines or between commas/semicolons."""
    pairs: dict[str, str] = {}
    for part in re.split(r"[\n;,]", prompt):
        # Keys in any language ("Prénom : Jane", a non-breaking space before the colon).
        match = re.match(r"\s*([^\W\d_][^\W\d]*(?:[ \-][^\W\d]+){0,4}?)\s*[:=]\s*(.+?)\s*$", part)
        if match:
            key = match.group(1).strip().lower().replace("-", " ")
            pairs.setdefault(key, match.group(2).strip())
    return pairs


def _first(fields: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name) or fields.get(name.replace(" ", "_"))
        if value:
            return value
    return None


@dataclass
class Rating:
    rating: str
    reason: str


class AnswerFacts:
    """Everything the rules can say about one (instructions, prompt) pair, computed lazily
    so structured output can pick the facts its field names ask for."""

    def __init__(self, instructions: str, prompt: str) -> None:
        self.instructions = instructions or ""
        self.prompt = prompt or ""
        self.task_text = f"{self.instructions}\n{self.prompt}".lower()

    @cached_property
    def fields(self) -> dict[str, str]:
        return parse_fields(self.prompt)

    @cached_property
    def task(self) -> str:
        for text in (self.instructions.lower(), self.task_text):
            if "state" in text and re.search(r"code|abbreviat|two.letter|2.letter|usps|iso", text):
                return "state"
            if re.search(r"e-?mail|prospecting|outreach", text):
                return "email"
            if re.search(r"\brat(e|ing)|qualif|score|\bhot\b|interest level", text):
                return "rating"
            if re.search(r"summar", text):
                return "summary"
        return "echo"

    @cached_property
    def lead(self) -> Rating:
        text = self.prompt.lower()
        hot, cold, warm = (
            _signals(text, HOT_SIGNALS),
            _signals(text, COLD_SIGNALS),
            _signals(text, WARM_SIGNALS),
        )
        if cold and len(hot) <= len(cold):
            return Rating("COLD", f"The message points away from a purchase ({', '.join(cold)}).")
        if hot:
            return Rating("HOT", f"The visitor shows clear buying intent ({', '.join(hot)}).")
        if warm or len(text.split()) >= 3:
            detail = f" ({', '.join(warm)})" if warm else ""
            return Rating(
                "WARM", f"The visitor shows general interest{detail} but no buying signal yet."
            )
        return Rating("COLD", "The message is too short to show any interest.")

    @cached_property
    def state_code(self) -> str:
        return find_state_code(self.prompt)

    @cached_property
    def contact_first_name(self) -> str | None:
        name = _first(self.fields, NAME_FIELDS)
        if not name:
            match = re.search(
                r"\b(?:to|for|contact|prospect)\s+([A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?", self.prompt
            )
            name = match.group(1) if match else None
        return name.split()[0] if name else None

    @cached_property
    def company(self) -> str | None:
        company = _first(self.fields, COMPANY_FIELDS)
        if not company:
            match = re.search(r"\b(?:at|from)\s+([A-Z][\w&.-]+(?:\s+[A-Z][\w&.-]+)*)", self.prompt)
            company = match.group(1) if match else None
        return company

    @cached_property
    def sender(self) -> str:
        return _first(self.fields, SENDER_FIELDS) or "The crmflow team"

    @cached_property
    def email_subject(self) -> str:
        return f"A quick idea for {self.company}" if self.company else "A quick idea for you"

    @cached_property
    def email_body(self) -> str:
        greeting = f"Hi {self.contact_first_name}," if self.contact_first_name else "Hi there,"
        where = f" at {self.company}" if self.company else ""
        return (
            f"{greeting}\n\n"
            f"I noticed the work your team{where} is doing and thought crmflow could help you "
            "follow up with every lead faster, without adding headcount.\n\n"
            "Would you be open to a 15-minute call next week to see if it fits?\n\n"
            f"Best regards,\n{self.sender}"
        )

    @cached_property
    def summary(self) -> str:
        if self.fields:
            parts = [f"{k}: {v}" for k, v in list(self.fields.items())[:6]]
            return "Record summary — " + "; ".join(parts) + "."
        text = re.sub(r"\s+", " ", self.prompt).strip()
        first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
        return f"Summary: {first[:200]}" if first else "Summary: (empty record)."

    @cached_property
    def echo(self) -> str:
        text = re.sub(r"\s+", " ", self.prompt).strip()
        if not text:
            return "Hello! How can I help you today?"
        short = text if len(text) <= 160 else text[:157] + "..."
        return f'Here is my answer about "{short}": this looks reasonable, and I would follow up promptly.'

    def answer_text(self) -> str:
        task = self.task
        if task == "state":
            return self.state_code
        if task == "email":
            return f"Subject: {self.email_subject}\n\n{self.email_body}"
        if task == "rating":
            if re.search(r"only|one word|single word|just the", self.instructions.lower()):
                return self.lead.rating
            return f"{self.lead.rating}: {self.lead.reason}"
        if task == "summary":
            return self.summary
        return self.echo

    def value_for_field(self, field_name: str):
        """A rule answer for a structured-output field, or None when the name says nothing."""
        name = field_name.lower()
        if name in ("rating", "lead_rating", "interest", "interest_level", "classification", "category",
                    "label", "temperature", "lead_temperature", "grade", "priority_label"):  # fmt: skip
            return self.lead.rating
        if name in ("reason", "rationale", "explanation", "justification", "why"):
            return self.lead.reason if self.task in ("rating", "echo") else self.answer_text()
        if name in (
            "state",
            "state_code",
            "code",
            "abbreviation",
            "us_state",
            "usps_code",
            "region_code",
        ):
            return self.state_code
        if name in ("summary", "record_summary"):
            return self.summary
        if name in ("subject", "email_subject", "subject_line"):
            return self.email_subject
        if name in ("body", "email_body", "email", "draft", "message"):
            return self.email_body
        if name in ("greeting",):
            return f"Hi {self.contact_first_name}," if self.contact_first_name else "Hi there,"
        if name in ("first_name", "firstname", "contact_name", "name"):
            return self.contact_first_name
        if name in ("company", "company_name"):
            return self.company
        if name in ("qualified", "is_hot", "is_qualified", "follow_up"):
            return self.lead.rating == "HOT"
        if name in ("score", "lead_score"):
            return {"HOT": 90, "WARM": 60, "COLD": 20}[self.lead.rating]
        if name in ("answer", "text", "content", "output", "result", "response"):
            return self.answer_text()
        return None


class AnswerRules:
    """Entry point used by the routes."""

    @staticmethod
    def facts(instructions: str | None, prompt: str | None) -> AnswerFacts:
        return AnswerFacts(instructions or "", prompt or "")

    @staticmethod
    def answer(instructions: str | None, prompt: str | None) -> str:
        return AnswerFacts(instructions or "", prompt or "").answer_text()
