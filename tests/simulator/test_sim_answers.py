import json

import pytest

from openai_simulator.answers import AnswerRules
from openai_simulator.structured import build_from_schema

STATE = "Convert the US state to its two-letter code."
RATE = "Rate the lead as HOT, WARM or COLD and give a reason."


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("california", "CA"),
        ("New York", "NY"),
        ("tex.", "TX"),
        ("WA", "WA"),
        ("Calfornia", "CA"),
        ("Pennsylvannia", "PA"),
        ("State: mass.", "MA"),
        ("n.y.", "NY"),
        ("Springfield", "UNKNOWN"),
    ],
)
def test_it_converts_states_to_codes(value, code):
    assert AnswerRules.answer(STATE, value) == code


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("We need pricing and a demo, budget approved for this quarter", "HOT"),
        ("Urgent: ready to buy 50 seats", "HOT"),
        ("I'm interested in learning more about what you do", "WARM"),
        ("Just browsing, I'm a student", "COLD"),
        ("Looking for a job in sales", "COLD"),
        ("CLICK HERE for cheap SEO services and backlinks", "COLD"),
    ],
)
def test_it_rates_leads(text, rating):
    answer = AnswerRules.answer(RATE, text)
    assert answer.split(":")[0] == rating
    assert len(answer) > len(rating) + 5  # comes with a reason


def test_it_answers_only_the_rating_when_asked():
    assert (
        AnswerRules.answer(
            "Rate the lead. Answer with one word only: HOT, WARM or COLD.", "pricing?"
        )
        == "HOT"
    )


def test_it_drafts_an_email_with_the_names_given():
    email = AnswerRules.answer(
        "Draft a prospecting email.", "first_name: Jane\ncompany: Acme\nsender: Sam Lee"
    )
    assert email.startswith("Subject: A quick idea for Acme")
    assert "Hi Jane," in email
    assert email.endswith("Best regards,\nSam Lee")


def test_it_reads_the_names_of_a_french_prompt():
    email = AnswerRules.answer(
        "Draft a prospecting email.",
        "Rédige un court e-mail de prospection pour la transaction « Globex ».\n"
        "Prénom\u00a0: Jane\nNom\u00a0: Doe\nEntreprise\u00a0: Globex\n"
        "Expéditeur\u00a0: Riley Rep",
    )
    assert "Hi Jane," in email and "Globex" in email
    assert email.endswith("Best regards,\nRiley Rep")


def test_it_summarises_a_record():
    summary = AnswerRules.answer(
        "Summarise this contact.", "Name: Jane Doe\nCompany: Acme\nStage: Lead"
    )
    assert summary.startswith("Record summary") and "Jane Doe" in summary


def test_the_same_input_always_gives_the_same_answer():
    assert AnswerRules.answer("", "What should I do next?") == AnswerRules.answer(
        "", "What should I do next?"
    )


def test_structured_output_fills_every_kind_of_field():
    schema = {
        "type": "object",
        "properties": {
            "rating": {"type": "string", "enum": ["HOT", "WARM", "COLD"]},
            "reason": {"type": "string"},
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "confidence": {"type": "number", "minimum": 0.5, "maximum": 1},
            "qualified": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "contact": {"$ref": "#/$defs/contact"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": [
            "rating",
            "reason",
            "score",
            "confidence",
            "qualified",
            "tags",
            "contact",
            "note",
        ],
        "additionalProperties": False,
        "$defs": {
            "contact": {
                "type": "object",
                "properties": {"state_code": {"type": "string"}, "first_name": {"type": "string"}},
                "required": ["state_code", "first_name"],
                "additionalProperties": False,
            }
        },
    }
    facts = AnswerRules.facts(RATE, "First name: Jane\nState: Texas\nWe need pricing asap")
    value = build_from_schema(schema, facts)
    import jsonschema

    jsonschema.validate(value, schema)
    assert value["rating"] == "HOT" and value["score"] == 90 and value["qualified"] is True
    assert value["contact"] == {"state_code": "TX", "first_name": "Jane"}
    assert json.loads(json.dumps(value)) == value
