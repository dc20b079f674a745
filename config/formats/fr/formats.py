"""crmflow's one date/time format per locale (see config/formats/en/formats.py):
« 3 déc. 2026 », « 3 déc. 2026, 14:05 »."""

DATE_FORMAT = "j N Y"
DATETIME_FORMAT = "j N Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
YEAR_MONTH_FORMAT = "F Y"
