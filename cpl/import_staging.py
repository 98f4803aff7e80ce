"""A CPL import's writes, set-based.

The validated rows are staged in a temporary table (PostgreSQL: psycopg's COPY from plain
tuples; SQLite: batched inserts), checked across rows there, and merged into the register with
INSERT … SELECT and UPDATE … FROM: no row of the register is read into Python, so time is a
handful of statements and memory stays flat in the size of the file. The same SQL runs on both
databases; `_Dialect` holds their few differences (JSON builders, string aggregation).
"""

import datetime
import json
from dataclasses import dataclass
from itertools import islice

from django.db import connection, transaction

from .exchange import (
    STAGED_COLUMNS,
    RowError,
    certificate_dates_error,
    duplicate_identity_error,
    manufacturer_name_error,
)
from .models import AssuranceCertificate, DeviceModel, ImportChange, Manufacturer

STAGE = "cpl_import_stage"  # one row per valid file row (STAGED_COLUMNS)
FACT = "cpl_import_fact"  # a view: one row per certificate a file row cites
MODELS = "cpl_import_models"  # per file row, its device model's id (new ones: ids drawn ahead)
EXISTING = "cpl_import_existing"  # a view: file rows whose device model is already registered
CHANGES = "cpl_import_changes"  # the change list, until the import's audit event exists
CERTS = "cpl_import_certs"  # one row per certificate the file cites (kind, number, dates)
CERT_IDS = "cpl_import_cert_ids"  # the same with its id in the register (new ones drawn ahead)

SEGMENT = 20000  # rows per COPY: progress is reported between segments
BATCH = 2000  # rows per executemany on SQLite
KIND_ORDER = {"cpa": 1, "zigbee": 2, "dlms": 3}
_SEPARATOR = "\x1f"  # joins certificate labels in one aggregate: never in a validated number

M = Manufacturer._meta.db_table
D = DeviceModel._meta.db_table
C = AssuranceCertificate._meta.db_table
L = DeviceModel.certificates.through._meta.db_table
X = ImportChange._meta.db_table


@dataclass(frozen=True)
class _Dialect:
    json_object: str
    json_array: str
    string_agg: str
    json_cast: str  # text to the JSONField's column type
    text_type: str
    json_array_concat: bool  # PostgreSQL: jsonb || jsonb; SQLite: build the array whole
    sequences: bool  # new ids from the table's sequence (else: after the highest, under lock)


POSTGRESQL = _Dialect(
    "jsonb_build_object",
    "jsonb_build_array",
    "string_agg",
    "CAST({} AS jsonb)",
    "text",
    True,
    True,
)
SQLITE = _Dialect("json_object", "json_array", "group_concat", "{}", "text", False, False)

_STAGE_TYPES = {
    "file_row": "integer NOT NULL",
    "device_type": "varchar(8) NOT NULL",
    "manufacturer_id": "varchar(4) NOT NULL",
    "manufacturer_name": "varchar(200) NOT NULL",
    "model_id": "varchar(4) NOT NULL",
    "hardware_version": "varchar(4) NOT NULL",
    "firmware_version": "varchar(8) NOT NULL",
    "smets_chts_version": "varchar(50) NOT NULL",
    "date_added": "date NOT NULL",
    # A SMETS1 row carries no CPA certificate, and a ZigBee one only if it has one.
    "cpa_number": "varchar(100)",
    "cpa_issued": "date",
    "cpa_expiry": "date",
    "zigbee_number": "varchar(100)",
    "zigbee_expiry": "date",
    "dlms_number": "varchar(100)",
    "dlms_expiry": "date",
    "smets_generation": "varchar(8) NOT NULL",
    "gbcs_version": "varchar(50) NOT NULL",
    "manufacturer_image_hash": "varchar(64) NOT NULL",
    "cpa_renewal": "date",
}
_COLUMNS = ["file_row", *STAGED_COLUMNS[1:]]
# The staged columns the merge joins or groups on (the only ones worth planner statistics).
_STAGE_JOINED = (
    "file_row, manufacturer_id, model_id, hardware_version, firmware_version, dlms_number"
)
# What an import compares and updates on a registered device model.
_COMPARED = (
    "device_type",
    "smets_generation",
    "smets_chts_version",
    "gbcs_version",
    "manufacturer_image_hash",
    "date_added",
)
# A file written before these columns existed leaves a registered model's values as they are
# (a new model gets them empty); a file without "SMETS Generation" is a SMETS2 file.
_KEPT_WITHOUT_COLUMN = {
    "GBCS Version": "gbcs_version",
    "Manufacturer Image Hash": "manufacturer_image_hash",
    # A certificate's, not a device model's: _merge_certificates leaves it alone.
    "CPA Renewal Date": "renewal_due",
}
assert list(_STAGE_TYPES) == _COLUMNS  # nosec B101  # checks this module's own constants


def _iso(value):
    return value.isoformat() if isinstance(value, datetime.date) else value


def _first_and_count(sql: str, limit: int) -> tuple[list[tuple], int]:
    """Rows of a query whose last column is COUNT(*) OVER (): the rows, and the count."""
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        rows = cursor.fetchall()
    return [row[:-1] for row in rows], (rows[0][-1] if rows else 0)


@dataclass
class MergeCounts:
    created: int = 0
    updated: int = 0
    certificates_created: int = 0
    certificates_updated: int = 0


class ImportStaging:
    """The temporary tables of one import on the default connection. Use as a context manager:
    they are dropped however the import ends (they are private to the connection anyway)."""

    def __init__(self):
        self.vendor = connection.vendor
        self.dialect = POSTGRESQL if self.vendor == "postgresql" else SQLITE
        self.rows = 0
        self._kept: frozenset[str] = frozenset()  # fields the file has no column for
        self._max_manufacturer = 0
        self._unanalyzed: set[str] = set()  # register tables written since their last ANALYZE

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self):
        self._drop()
        columns = ", ".join(f"{name} {kind}" for name, kind in _STAGE_TYPES.items())
        identity = "manufacturer_id, model_id, hardware_version, firmware_version"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} ({columns})")
            cursor.execute(
                f"""CREATE TEMPORARY VIEW {FACT} AS
                SELECT file_row, 1 AS position, 'cpa' AS kind, cpa_number AS number,
                    cpa_issued AS issued, cpa_expiry AS expiry, cpa_renewal AS renewal,
                    {identity} FROM {STAGE}
                WHERE cpa_number IS NOT NULL
                UNION ALL
                SELECT file_row, 2, 'zigbee', zigbee_number, NULL, zigbee_expiry, NULL,
                    {identity}
                FROM {STAGE} WHERE zigbee_number IS NOT NULL
                UNION ALL
                SELECT file_row, 3, 'dlms', dlms_number, NULL, dlms_expiry, NULL, {identity}
                FROM {STAGE} WHERE dlms_number IS NOT NULL"""  # nosec B608  # identifiers are this module's constants
            )
        return self

    def __exit__(self, *exc):
        if connection.connection is not None and not connection.needs_rollback:
            self._drop()
        return False

    def _drop(self):
        # Qualified: only ever this connection's temporary objects.
        temp = "pg_temp" if self.vendor == "postgresql" else "temp"
        with connection.cursor() as cursor:
            for view in (FACT, EXISTING):
                cursor.execute(f"DROP VIEW IF EXISTS {temp}.{view}")
            for table in (CERT_IDS, CERTS, CHANGES, MODELS, STAGE):
                cursor.execute(f"DROP TABLE IF EXISTS {temp}.{table}")

    # --- loading -------------------------------------------------------------------------

    def load(self, reading) -> None:
        """Stage the validated rows of an ExchangeFileReading as they are read.

        PostgreSQL: one COPY per SEGMENT rows, fed while the file is validated, so the database
        ingests as Python reads. The reader's progress callback (it writes the job's progress)
        is held while a COPY has the connection and called between segments. Each segment is
        atomic: a file rejected mid-segment ends its COPY cleanly, in or out of a transaction.
        """
        report, held = reading.progress, []
        if report is not None:
            reading.progress = lambda rows, percent: held.append((rows, percent))
        rows = iter(reading)
        with connection.cursor() as cursor:
            while True:
                with transaction.atomic():
                    staged = self._stage_segment(cursor, rows)
                self.rows += staged
                if held:
                    report(*held[-1])
                    held.clear()
                if staged < SEGMENT:
                    break
            self._analyze(cursor, STAGE, _STAGE_JOINED)
        self._kept = frozenset(
            field for column, field in _KEPT_WITHOUT_COLUMN.items() if column not in reading.header
        )

    def _stage_segment(self, cursor, rows) -> int:
        if self.vendor == "postgresql":
            count = 0
            with cursor.cursor.copy(f"COPY {STAGE} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in islice(rows, SEGMENT):
                    copy.write_row(row)
                    count += 1
            return count
        marks = ", ".join(["%s"] * len(_COLUMNS))
        count = 0
        while batch := [tuple(_iso(v) for v in row) for row in islice(rows, BATCH)]:
            cursor.executemany(f"INSERT INTO {STAGE} VALUES ({marks})", batch)  # nosec B608  # identifiers are this module's constants
            count += len(batch)
            if count >= SEGMENT:
                break
        return count

    # --- rules across rows ---------------------------------------------------------------

    def cross_row_errors(self, limit: int) -> tuple[list[RowError], int]:
        """Problems that span rows, over every staged row: the first `limit` of each rule in
        row order, and how many there are in all."""
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SET LOCAL work_mem = '64MB'")
            # One pass: each certificate once, in the order the file first cites it, and
            # whether its rows give it different dates (a CPA's issue date is never NULL, the
            # others' always is; every expiry is set; a renewal date may be on some rows only).
            cursor.execute(
                f"""CREATE TEMPORARY TABLE {CERTS} AS
                SELECT kind, number, MIN(file_row * 4 + position) AS first_seen,
                    MIN(issued) AS issued, MIN(expiry) AS expiry, MIN(renewal) AS renewal,
                    MIN(issued) <> MAX(issued) OR MIN(expiry) <> MAX(expiry)
                        OR MIN(renewal) <> MAX(renewal)
                        OR COUNT(renewal) NOT IN (0, COUNT(*)) AS conflicting
                FROM {FACT} GROUP BY kind, number"""  # nosec B608  # identifiers are this module's constants
            )
            identity = "manufacturer_id, model_id, hardware_version, firmware_version"
            probes = [
                f"SELECT 1 FROM {STAGE} GROUP BY {identity} HAVING COUNT(*) > 1",  # nosec B608  # identifiers are this module's constants
                f"""SELECT 1 FROM {STAGE} GROUP BY manufacturer_id
                    HAVING MIN(manufacturer_name) <> MAX(manufacturer_name)""",  # nosec B608  # identifiers are this module's constants
                f"SELECT 1 FROM {CERTS} WHERE conflicting",  # nosec B608  # identifiers are this module's constants
            ]
            broken = []
            for probe in probes:
                cursor.execute(f"SELECT EXISTS ({probe})")
                broken.append(bool(cursor.fetchone()[0]))
        if not any(broken):
            return [], 0
        found = []
        identities, total = _first_and_count(
            f"""SELECT file_row, first_row, COUNT(*) OVER () FROM (
                SELECT file_row, MIN(file_row) OVER (PARTITION BY manufacturer_id,
                    model_id, hardware_version, firmware_version) AS first_row
                FROM {STAGE}) AS identities
            WHERE file_row <> first_row ORDER BY file_row LIMIT %s""",  # nosec B608  # identifiers are this module's constants
            limit,
        )
        found += [((row, 0), duplicate_identity_error(row, first)) for row, first in identities]
        names, count = _first_and_count(
            f"""SELECT file_row, manufacturer_id, first_name, first_row, COUNT(*) OVER ()
            FROM (SELECT file_row, manufacturer_id, manufacturer_name,
                    FIRST_VALUE(manufacturer_name) OVER w AS first_name,
                    FIRST_VALUE(file_row) OVER w AS first_row
                FROM {STAGE} WINDOW w AS (PARTITION BY manufacturer_id ORDER BY file_row)
            ) AS names
            WHERE manufacturer_name <> first_name ORDER BY file_row LIMIT %s""",  # nosec B608  # identifiers are this module's constants
            limit,
        )
        total += count
        found += [
            ((row, 1), manufacturer_name_error(row, mid, name, first))
            for row, mid, name, first in names
        ]
        dates, count = _first_and_count(
            f"""SELECT file_row, position, kind, number, first_row, COUNT(*) OVER ()
            FROM (SELECT file_row, position, kind, number, issued, expiry, renewal,
                    FIRST_VALUE(issued) OVER w AS first_issued,
                    FIRST_VALUE(expiry) OVER w AS first_expiry,
                    FIRST_VALUE(renewal) OVER w AS first_renewal,
                    FIRST_VALUE(file_row) OVER w AS first_row
                FROM {FACT} WINDOW w AS (PARTITION BY kind, number ORDER BY file_row)
            ) AS facts
            WHERE issued IS DISTINCT FROM first_issued OR expiry <> first_expiry
                OR renewal IS DISTINCT FROM first_renewal
            ORDER BY file_row, position LIMIT %s""",  # nosec B608  # identifiers are this module's constants
            limit,
        )
        total += count
        found += [
            ((row, 1 + position), certificate_dates_error(row, kind, number, first))
            for row, position, kind, number, first in dates
        ]
        found.sort(key=lambda item: item[0])
        return [error for _, error in found], total

    # --- merging -------------------------------------------------------------------------

    def merge(self, *, now: datetime.datetime) -> MergeCounts:
        """Write the staged rows into the register; the caller's transaction holds it all.

        New certificates and device models get their ids before they are written (from the
        table's sequence, in the order the file first cites them), so the links and the change
        list are joins of this import's own small tables, not lookups in the register."""
        counts = MergeCounts()
        text = self.dialect.text_type
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                # Imports and other writers of these tables take turns; readers carry on.
                cursor.execute(f"LOCK TABLE {M}, {C}, {D}, {L} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {M}")  # nosec B608  # identifiers are this module's constants
            self._max_manufacturer = cursor.fetchone()[0]
            cursor.execute(
                f"""CREATE TEMPORARY TABLE {CHANGES} (action varchar(64), object_type
                varchar(64), object_pk bigint, before {text}, after {text})"""
            )
            self._merge_manufacturers(cursor)
            counts.certificates_updated, counts.certificates_created = self._merge_certificates(
                cursor, now
            )
            new_model = self._new_id(cursor, D, "d.id", "s.file_row")
            cursor.execute(
                f"""CREATE TEMPORARY TABLE {MODELS} AS
                SELECT s.file_row, COALESCE(d.id, {new_model}) AS model_pk,
                    CASE WHEN d.id IS NULL THEN 1 ELSE 0 END AS created
                FROM {STAGE} s JOIN {M} m ON m.manufacturer_id = s.manufacturer_id
                LEFT JOIN {D} d ON d.manufacturer_id = m.id AND d.model_id = s.model_id
                    AND d.hardware_version = s.hardware_version
                    AND d.firmware_version = s.firmware_version
                ORDER BY s.file_row"""  # nosec B608  # identifiers are this module's constants
            )
            self._analyze(cursor, MODELS, "file_row, created")
            cursor.execute(
                f"""CREATE TEMPORARY VIEW {EXISTING} AS
                SELECT file_row, model_pk FROM {MODELS} WHERE created = 0"""  # nosec B608  # identifiers are this module's constants
            )
            counts.updated, links_added = self._merge_existing_models(cursor, now)
            cursor.execute(
                f"""INSERT INTO {D} (id, device_type, manufacturer_id, model_id,
                    hardware_version, firmware_version, smets_chts_version, smets_generation,
                    gbcs_version, manufacturer_image_hash, date_added, status,
                    removal_basis, emergency_entry, created_at, updated_at)
                SELECT mo.model_pk, s.device_type, m.id, s.model_id, s.hardware_version,
                    s.firmware_version, s.smets_chts_version, s.smets_generation,
                    s.gbcs_version, s.manufacturer_image_hash, s.date_added, %s, '', FALSE,
                    %s, %s
                FROM {MODELS} mo JOIN {STAGE} s ON s.file_row = mo.file_row
                JOIN {M} m ON m.manufacturer_id = s.manufacturer_id
                WHERE mo.created = 1 ORDER BY mo.model_pk""",  # nosec B608  # identifiers are this module's constants
                [DeviceModel.Status.LISTED, now, now],
            )
            counts.created = self._wrote(cursor, D)
            if counts.created:
                # New device models have no links yet: every certificate their rows cite.
                cursor.execute(
                    f"""INSERT INTO {L} (devicemodel_id, assurancecertificate_id)
                    SELECT mo.model_pk, ci.cert_pk FROM {FACT} f
                    JOIN {MODELS} mo ON mo.file_row = f.file_row
                    JOIN {CERT_IDS} ci ON ci.kind = f.kind AND ci.number = f.number
                    WHERE mo.created = 1 ORDER BY mo.model_pk, ci.cert_pk"""  # nosec B608  # identifiers are this module's constants
                )
                self._wrote(cursor, L)
            if links_added:
                cursor.execute(
                    f"""INSERT INTO {L} (devicemodel_id, assurancecertificate_id)
                    SELECT e.model_pk, ci.cert_pk FROM {FACT} f
                    JOIN {EXISTING} e ON e.file_row = f.file_row
                    JOIN {CERT_IDS} ci ON ci.kind = f.kind AND ci.number = f.number
                    WHERE NOT EXISTS (SELECT 1 FROM {L} l WHERE l.devicemodel_id = e.model_pk
                        AND l.assurancecertificate_id = ci.cert_pk)
                    ORDER BY e.model_pk, ci.cert_pk"""  # nosec B608  # identifiers are this module's constants
                )
                self._wrote(cursor, L)
        return counts

    def _new_id(self, cursor, table: str, existing: str, order: str) -> str:
        """SQL for the id of a row not registered yet (`existing` IS NULL), in `order`.

        PostgreSQL: the table's own sequence, so whoever inserts after the import (it holds
        the table locked until then) draws ids past these. SQLite: after the highest id, which
        the transaction's write lock keeps."""
        if self.dialect.sequences:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0].replace("'", "''")
            # Evaluated after the ORDER BY of the statement it is in (a volatile function).
            return f"nextval('{sequence}')"
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # nosec B608  # identifiers are this module's constants
        highest = int(cursor.fetchone()[0])
        return f"{highest} + ROW_NUMBER() OVER (PARTITION BY {existing} IS NULL ORDER BY {order})"

    def _wrote(self, cursor, table: str) -> int:
        """The rows the last statement wrote to a register table (noted for ANALYZE)."""
        if cursor.rowcount > 0:
            self._unanalyzed.add(table)
        return max(cursor.rowcount, 0)

    def _analyze(self, cursor, table: str, columns: str = "") -> None:
        """PostgreSQL plans the next joins from the rows just written, not from estimates (which
        can pick a merge join, sorting text by collation, for what a hash join does at once).
        `columns`: only those the joins use."""
        if self.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table} ({columns})" if columns else f"ANALYZE {table}")
        self._unanalyzed.discard(table)

    def _merge_manufacturers(self, cursor) -> None:
        obj = self.dialect.json_object
        named = f"(SELECT DISTINCT manufacturer_id, manufacturer_name FROM {STAGE})"  # nosec B608  # identifiers are this module's constants
        cursor.execute(
            f"""INSERT INTO {CHANGES} (action, object_type, object_pk, before, after)
            SELECT 'manufacturer.renamed', 'cpl.manufacturer', m.id, {obj}('name', m.name),
                {obj}('name', s.manufacturer_name)
            FROM {M} m JOIN {named} s ON s.manufacturer_id = m.manufacturer_id
            WHERE m.name <> s.manufacturer_name"""  # nosec B608  # identifiers are this module's constants
        )
        cursor.execute(
            f"""UPDATE {M} SET name = s.manufacturer_name FROM {named} s
            WHERE {M}.manufacturer_id = s.manufacturer_id AND {M}.name <> s.manufacturer_name"""  # nosec B608  # identifiers are this module's constants
        )
        self._wrote(cursor, M)
        cursor.execute(
            f"""INSERT INTO {M} (manufacturer_id, name)
            SELECT manufacturer_id, MIN(manufacturer_name) FROM {STAGE} s
            WHERE NOT EXISTS (SELECT 1 FROM {M} m WHERE m.manufacturer_id = s.manufacturer_id)
            GROUP BY manufacturer_id ORDER BY manufacturer_id"""  # nosec B608  # identifiers are this module's constants
        )
        self._wrote(cursor, M)

    def _merge_certificates(self, cursor, now) -> tuple[int, int]:
        obj = self.dialect.json_object
        new_certificate = self._new_id(cursor, C, "c.id", "f.first_seen")
        cursor.execute(
            f"""CREATE TEMPORARY TABLE {CERT_IDS} AS
            SELECT f.kind, f.number, f.issued, f.expiry, f.renewal, c.issued AS old_issued,
                c.expiry AS old_expiry, c.renewal_due AS old_renewal,
                COALESCE(c.id, {new_certificate}) AS cert_pk,
                CASE WHEN c.id IS NULL THEN 1 ELSE 0 END AS created
            FROM {CERTS} f LEFT JOIN {C} c ON c.kind = f.kind AND c.number = f.number
            ORDER BY f.first_seen"""  # nosec B608  # identifiers are this module's constants
        )
        self._analyze(cursor, CERT_IDS, "kind, number, created")

        # A file without the renewal column leaves the stored renewal dates as they are.
        renewal = "renewal_due" not in self._kept

        def differs(f=""):
            renewed = f" OR {f}old_renewal IS DISTINCT FROM {f}renewal" if renewal else ""
            return (
                f"{f}created = 0 AND ({f}old_issued IS DISTINCT FROM {f}issued "
                f"OR {f}old_expiry <> {f}expiry{renewed})"
            )

        before, after, set_renewal = "", "", ""
        if renewal:
            before, after = ", 'renewal_due', old_renewal", ", 'renewal_due', renewal"
            set_renewal = ", renewal_due = f.renewal"
        cursor.execute(
            f"""INSERT INTO {CHANGES} (action, object_type, object_pk, before, after)
            SELECT 'certificate.updated', 'cpl.assurancecertificate', cert_pk,
                {obj}('issued', old_issued, 'expiry', old_expiry{before}),
                {obj}('issued', issued, 'expiry', expiry{after})
            FROM {CERT_IDS} WHERE {differs()}"""  # nosec B608  # identifiers are this module's constants
        )
        updated = max(cursor.rowcount, 0)
        if updated:
            cursor.execute(
                f"""UPDATE {C} SET issued = f.issued, expiry = f.expiry{set_renewal}
                FROM {CERT_IDS} f
                WHERE {C}.id = f.cert_pk AND {differs("f.")}"""  # nosec B608  # identifiers are this module's constants
            )
            self._wrote(cursor, C)
        cursor.execute(
            f"""INSERT INTO {C} (id, kind, number, issued, expiry, renewal_due, status,
                status_date, status_reason, created_at)
            SELECT cert_pk, kind, number, issued, expiry, renewal, %s, NULL, '', %s
            FROM {CERT_IDS} WHERE created = 1 ORDER BY cert_pk""",  # nosec B608  # identifiers are this module's constants
            [AssuranceCertificate.Status.VALID, now],
        )
        created = self._wrote(cursor, C)
        return updated, created

    def _merge_existing_models(self, cursor, now) -> tuple[int, bool]:
        """Registered device models whose row says otherwise, or cites a certificate they are
        not linked to yet: their change list entries (only what differs, as before/after)."""
        agg = self.dialect.string_agg
        compared = [c for c in _COMPARED if c not in self._kept]
        query = f"""
            SELECT e.model_pk, {", ".join(f"d.{c}, s.{c}" for c in compared)}, a.added
            FROM {EXISTING} e JOIN {STAGE} s ON s.file_row = e.file_row
            JOIN {D} d ON d.id = e.model_pk
            LEFT JOIN (
                SELECT e2.model_pk, {agg}(f.kind || ':' || f.number, %s) AS added
                FROM {FACT} f JOIN {EXISTING} e2 ON e2.file_row = f.file_row
                JOIN {CERT_IDS} c ON c.kind = f.kind AND c.number = f.number
                WHERE NOT EXISTS (SELECT 1 FROM {L} l
                    WHERE l.devicemodel_id = e2.model_pk AND l.assurancecertificate_id = c.cert_pk)
                GROUP BY e2.model_pk
            ) a ON a.model_pk = e.model_pk
            WHERE {" OR ".join(f"d.{c} <> s.{c}" for c in compared)} OR a.added IS NOT NULL
            ORDER BY e.file_row"""  # nosec B608  # identifiers are this module's constants
        updated, links_added = 0, False
        with connection.chunked_cursor() as changed:
            changed.execute(query, [_SEPARATOR])
            while batch := changed.fetchmany(2000):
                entries = []
                for pk, *values, added in batch:
                    before, after = {}, {}
                    for index, name in enumerate(compared):
                        old, new = _iso(values[2 * index]), _iso(values[2 * index + 1])
                        if old != new:
                            before[name], after[name] = old, new
                    if added:
                        links_added = True
                        labels = added.split(_SEPARATOR)
                        labels.sort(key=lambda label: KIND_ORDER[label.split(":", 1)[0]])
                        after["certificates_added"] = labels
                    entries.append(
                        (
                            "devicemodel.updated",
                            "cpl.devicemodel",
                            pk,
                            json.dumps(before),
                            json.dumps(after),
                        )
                    )
                cursor.executemany(
                    f"""INSERT INTO {CHANGES} (action, object_type, object_pk, before, after)
                    VALUES (%s, %s, %s, %s, %s)""",  # nosec B608  # identifiers are this module's constants
                    entries,
                )
                updated += len(entries)
        if updated:
            cursor.execute(
                f"""UPDATE {D} SET {", ".join(f"{c} = s.{c}" for c in compared)},
                    updated_at = %s
                FROM {EXISTING} e JOIN {STAGE} s ON s.file_row = e.file_row
                WHERE {D}.id = e.model_pk AND e.model_pk IN (SELECT object_pk FROM {CHANGES}
                    WHERE action = 'devicemodel.updated')""",  # nosec B608  # identifiers are this module's constants
                [now],
            )
            self._wrote(cursor, D)
        return updated, links_added

    # --- the change list -----------------------------------------------------------------

    def record_changes(self, *, event_id: int) -> int:
        """Keep what the import changed under its audit event (ImportChange)."""
        obj, array = self.dialect.json_object, self.dialect.json_array
        cast = self.dialect.json_cast
        columns = f"INSERT INTO {X} (event_id, action, object_type, object_id, before, after)"
        kinds = ("cpa", "zigbee", "dlms")  # each may be missing (SMETS1 rows)
        if self.dialect.json_array_concat:
            certificates = " || ".join(
                f"CASE WHEN s.{k}_number IS NULL THEN {array}() "
                f"ELSE {array}('{k}:' || s.{k}_number) END"
                for k in kinds
            )
        else:
            # The quoted labels joined by commas (a label ends in its closing quote).
            listed = " || ".join(
                f"CASE WHEN s.{k}_number IS NULL THEN '' "
                f"ELSE json_quote('{k}:' || s.{k}_number) || ',' END"
                for k in kinds
            )
            certificates = f"json('[' || rtrim({listed}, ',') || ']')"
        recorded = 0
        with connection.cursor() as cursor:
            cursor.execute(
                f"""{columns}
                SELECT %s, 'manufacturer.created', 'cpl.manufacturer', CAST(id AS text), NULL,
                    {obj}('name', name)
                FROM {M} WHERE id > %s ORDER BY id""",  # nosec B608  # identifiers are this module's constants
                [event_id, self._max_manufacturer],
            )
            recorded += max(cursor.rowcount, 0)
            cursor.execute(
                f"""{columns}
                SELECT %s, action, object_type, CAST(object_pk AS text), {cast.format("before")},
                    {cast.format("after")}
                FROM {CHANGES} ORDER BY action, object_pk""",  # nosec B608  # identifiers are this module's constants
                [event_id],
            )
            recorded += max(cursor.rowcount, 0)
            cursor.execute(
                f"""{columns}
                SELECT %s, 'devicemodel.created', 'cpl.devicemodel', CAST(mo.model_pk AS text),
                    NULL, {obj}('status', CAST(%s AS {self.dialect.text_type}),
                        'device_type', s.device_type,
                        'smets_generation', s.smets_generation,
                        'smets_chts_version', s.smets_chts_version,
                        'gbcs_version', s.gbcs_version,
                        'manufacturer_image_hash', s.manufacturer_image_hash,
                        'date_added', s.date_added, 'certificates', {certificates})
                FROM {MODELS} mo JOIN {STAGE} s ON s.file_row = mo.file_row
                WHERE mo.created = 1 ORDER BY mo.model_pk""",  # nosec B608  # identifiers are this module's constants
                [event_id, DeviceModel.Status.LISTED],
            )
            recorded += max(cursor.rowcount, 0)
        return recorded

    def analyze(self) -> None:
        """Fresh planner statistics for what the import wrote (autovacuum may be off, or late)."""
        if self.vendor == "postgresql" and self._unanalyzed:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {', '.join(sorted(self._unanalyzed))}")
