"""Reading an uploaded CSV file for an import: decoding it, finding its delimiter and
rows, and guessing which property each column holds.

Nothing here writes records: `crm.imports` does, batch by batch.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import ImportJob, ObjectType, PropertyDefinition

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_ROWS = 200_000
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
DELIMITERS = ",;\t"

csv.field_size_limit(1024 * 1024)


# --- Reading the file ---------------------------------------------------------------


def file_read(data: bytes) -> dict[str, Any]:
    """Decode and check an uploaded CSV file; raise ValidationError saying what to fix.

    Returns the fields of a new ImportJob: content, encoding, delimiter, headers,
    total_rows.
    """
    size_check(len(data))
    if b"\x00" in data:
        raise ValidationError(
            _(
                "This is not a CSV file (it contains binary data). In your spreadsheet, "
                "use “Save as” → CSV, then upload that file."
            )
        )
    text, encoding = decode(data)
    if not text.strip():
        raise ValidationError(_("The file is empty."))
    delimiter = delimiter_guess(text)
    # Count while streaming, and stop at the first row over the limit: a 10 MB file of
    # 5 million one-character rows is refused without holding its rows in memory.
    reader = csv.reader(lines(text), delimiter=delimiter)
    try:
        headers = [cell.strip() for cell in next(reader, [])]
        if not any(headers):
            raise ValidationError(
                _("The first line must name the columns (e.g. Email, First name).")
            )
        total = 0
        for row in reader:
            if _has_data(row):
                total += 1
                if total > MAX_ROWS:
                    raise ValidationError(
                        _(
                            "The file has more than %(limit)d rows, the limit. "
                            "Split it into smaller files."
                        )
                        % {"limit": MAX_ROWS}
                    )
    except csv.Error as error:
        raise ValidationError(
            _("The file could not be read as CSV: %(error)s") % {"error": error}
        ) from error
    if total == 0:
        raise ValidationError(_("The file has a header line but no rows to import."))
    return {
        "content": text,
        "encoding": encoding,
        "delimiter": delimiter,
        "headers": headers,
        "total_rows": total,
    }


def size_check(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ValidationError(
            _("The file is %(size).1f MB; the limit is %(limit)d MB. Split it into smaller files.")
            % {"size": size / 1024 / 1024, "limit": MAX_FILE_BYTES // 1024 // 1024}
        )


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without the BOM Excel writes), else Windows-1252, else Latin-1."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def delimiter_guess(text: str) -> str:
    """The delimiter of the header line: `,` `;` (French Excel) or a tab."""
    sample = text[: 64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.splitlines()[0] if sample else ""
        counts = {d: first_line.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def lines(text: str) -> Iterator[str]:
    """The lines of `text` with their endings (\\n, \\r\\n or \\r), one at a time: what
    csv.reader wants, without a copy of the whole text (io.StringIO keeps 4 bytes a
    character) or a list of every line."""
    for match in _LINE.finditer(text):
        if match.group():
            yield match.group()


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def data_row_iter(job: ImportJob) -> Iterator[list[str]]:
    """The job's rows after the header, blank lines left out, one at a time."""
    reader = csv.reader(lines(job.content), delimiter=job.delimiter)
    next(reader, None)
    return (row for row in reader if _has_data(row))


def data_rows(job: ImportJob) -> list[list[str]]:
    """The job's rows after the header, blank lines left out (at most MAX_ROWS)."""
    return list(data_row_iter(job))


def _has_data(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def samples(job: ImportJob, count: int = 3) -> list[list[str]]:
    """Up to `count` example values per column, for the mapping screen."""
    result: list[list[str]] = [[] for _header in job.headers]
    for row in itertools.islice(data_row_iter(job), 50):
        for index, cell in enumerate(row[: len(result)]):
            if cell.strip() and len(result[index]) < count:
                result[index].append(cell.strip()[:60])
    return result


# --- Mapping columns to properties --------------------------------------------------

SYNONYMS = {
    ObjectType.CONTACT: {
        "email": [
            "email address",
            "e-mail",
            "e-mail address",
            "mail",
            "courriel",
            "adresse e-mail",
            "adresse email",
        ],
        "first_name": ["firstname", "given name", "prénom", "prenom"],
        "last_name": ["lastname", "surname", "family name", "nom", "nom de famille"],
        "phone": ["phone", "telephone", "téléphone", "mobile", "phone number"],
        "company_name": ["company", "organization", "organisation", "société", "entreprise"],
        "job_title": ["title", "position", "poste", "fonction"],
        "state": ["state", "region", "région"],
        "country": ["country", "pays"],
        "city": ["ville"],
    },
    ObjectType.COMPANY: {
        "name": ["company", "company name", "name", "nom", "société", "entreprise"],
        "domain": ["domain", "website", "website url", "site web", "domaine", "url"],
        "number_of_employees": ["employees", "headcount", "effectif"],
        "annual_revenue": ["revenue", "chiffre d'affaires"],
        "industry": ["secteur"],
    },
}


def _simple(text: str) -> str:
    return re.sub(r"[^a-z0-9éèàçôù]+", " ", text.lower()).strip()


def mapping_guess(
    object_type: str, headers: list[str], definitions: Mapping[str, PropertyDefinition]
) -> dict[str, str]:
    """Column index (as a string) → property name, for the headers that say which."""
    lookup: dict[str, str] = {}
    for name, definition in definitions.items():
        lookup.setdefault(_simple(name), name)
        lookup.setdefault(_simple(definition.label), name)
    for name, words in SYNONYMS.get(ObjectType(object_type), {}).items():
        if name in definitions:
            for word in words:
                lookup.setdefault(_simple(word), name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        guessed = lookup.get(_simple(header))
        if guessed and guessed not in taken:
            mapping[str(index)] = guessed
            taken.add(guessed)
    return mapping
