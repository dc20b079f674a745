"""crmflow's one date/time format per locale (docs/glossary-fr.md: one format per
screen): a date reads "Dec 3, 2026", a moment "Dec 3, 2026, 14:05", in the user's time
zone. The short names are the same, so that no page mixes 12/03/2026 with Dec 3, 2026."""

DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "M j, Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
YEAR_MONTH_FORMAT = "F Y"
