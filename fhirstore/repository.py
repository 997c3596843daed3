"""The one interface to the FHIR store: FHIR-named methods, built from the caller's access scope.

Apps and both API layers use only this. Access rules are applied here, before any row is returned
or written, so no endpoint can forget them. https://hl7.org/fhir/R4/http.html
"""

from collections.abc import Callable
from typing import Any, TypeVar

import jsonpatch
from django.db import connection, transaction

from fhirstore import compartment, fhirmodels, history, jsontext, writes
from fhirstore.context import AccessScope, GuardFailed
from fhirstore.current import CurrentRow, guard_holds, read_current, read_current_guarded
from fhirstore.errors import (
    Forbidden,
    Gone,
    InvalidRequest,
    InvalidResource,
    NotFound,
    PreconditionFailed,
)
from fhirstore.models import Resource, ResourceVersion
from fhirstore.stored import Stored, WriteResult

T = TypeVar("T")


def _stored(row: "CurrentRow | Resource | ResourceVersion", method: str = "") -> Stored:
    return Stored(
        row.resource_type,
        row.logical_id,
        row.version,
        row.last_updated,
        row.deleted,
        row.text.encode(),
        method,
    )


def check_type(resource_type: str) -> None:
    """404 for anything that is not an R4 resource type (https://hl7.org/fhir/R4/http.html#2.21.0.3)."""
    if not fhirmodels.is_resource_type(resource_type):
        raise NotFound(f"Unknown resource type {resource_type!r}")


def check_id(logical_id: str) -> None:
    if (
        not logical_id
        or len(logical_id) > 64
        or not all(c.isalnum() or c in "-." for c in logical_id)
    ):
        raise InvalidRequest(f"Invalid resource id {logical_id!r}", code="value")
    if not logical_id.isascii():
        raise InvalidRequest(f"Invalid resource id {logical_id!r}", code="value")


def _serialised(key: str, action: Callable[[], T]) -> T:
    """Run `action` holding a transaction-scoped lock on `key` (PostgreSQL advisory lock).

    Conditional creates must not race: two requests that both find no match would both create.
    SQLite needs nothing: its write transactions are already serialised (BEGIN IMMEDIATE).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
        return action()


class Repository:
    """FHIR interactions on the store, limited to what `scope` allows."""

    def __init__(self, *, scope: AccessScope) -> None:
        self.scope = scope
        # Patients whose records single-resource reads touched, for the audit of this request.
        self.read_patients: frozenset[str] | None = None
        # The caller's credentials await their check for this request (`AccessScope.guard`).
        self._guard_pending = scope.guard is not None

    # --- access -----------------------------------------------------------------------------

    def require_live(self) -> None:
        """Check the caller's credentials now if no statement has yet (`AccessScope.guard`)."""
        guard = self.scope.guard
        if guard is not None and self._guard_pending:
            if not guard_holds(guard):
                raise GuardFailed()
            self._guard_pending = False

    def credentials_held(self) -> None:
        """A statement run for this caller (a search page) has checked its `AccessScope.guard`."""
        self._guard_pending = False

    def _current(self, resource_type: str, logical_id: str) -> CurrentRow | None:
        guard = self.scope.guard
        if guard is None or not self._guard_pending:
            return read_current(resource_type, logical_id)
        row = read_current_guarded(resource_type, logical_id, guard)
        self._guard_pending = False
        return row

    def _visible(self, row: "CurrentRow | Resource") -> bool:
        if self.scope.filters_for(row.resource_type):
            # Granular scopes: the row must match a scope query, so ask the search condition.
            from fhirstore.search.access import allowed_q

            allowed = allowed_q(self.scope, (row.resource_type,))
            return Resource.objects.filter(allowed, pk=row.pk).exists()
        if self.scope.unrestricted or row.resource_type in self.scope.open_types:
            return True
        assert self.scope.patient_ids is not None
        return bool(row.patient_ids & self.scope.patient_ids)

    def _in_compartments(self, row: Resource) -> bool:
        """Whether `row` is in one of the caller's patients' compartments: what a restricted
        caller may change (shared directory resources are visible to them, not theirs)."""
        assert self.scope.patient_ids is not None
        return bool(row.patient_ids & self.scope.patient_ids)

    def _check_read(self, resource_type: str) -> None:
        check_type(resource_type)
        if not self.scope.may_read(resource_type):
            raise Forbidden(f"Reading {resource_type} is not permitted by the granted scopes")

    def _check_write(
        self, resource_type: str, doc: dict[str, Any] | None, current: Resource | None
    ) -> None:
        check_type(resource_type)
        if resource_type == "AuditEvent" and current is not None:
            raise Forbidden("AuditEvents are append-only: they cannot be changed or deleted")
        action = (
            "d" if doc is None else ("u" if current is not None and not current.deleted else "c")
        )
        if not self.scope.may_write(resource_type, action):
            raise Forbidden(f"Writing {resource_type} is not permitted by the granted scopes")
        if self.scope.unrestricted:
            return
        assert self.scope.patient_ids is not None
        if current is not None and not current.deleted and not self._in_compartments(current):
            raise Forbidden(f"{resource_type} is outside the patient compartments you may write")
        if doc is not None and not compartment.patients_of(doc) & self.scope.patient_ids:
            raise Forbidden(f"{resource_type} is outside the patient compartments you may write")

    # --- read -------------------------------------------------------------------------------

    def read(self, *, resource_type: str, logical_id: str) -> Stored:
        """The current version; 404 when unknown or not visible, 410 when deleted."""
        self._check_read(resource_type)
        row = self._current(resource_type, logical_id)
        if row is None or not self._visible(row):
            raise NotFound(f"{resource_type}/{logical_id} is not known")
        self.read_patients = (self.read_patients or frozenset()) | row.patient_ids
        if row.deleted:
            raise Gone(f"{resource_type}/{logical_id} was deleted", version=row.version)
        return _stored(row)

    def vread(self, *, resource_type: str, logical_id: str, version: str) -> Stored:
        """One version by number (https://hl7.org/fhir/R4/http.html#vread); 410 for a deletion."""
        self._check_read(resource_type)
        row = self._current(resource_type, logical_id)
        if row is None or not self._visible(row) or not version.isdigit():
            raise NotFound(f"{resource_type}/{logical_id}/_history/{version} is not known")
        found = ResourceVersion.objects.filter(resource_id=row.pk, version=int(version)).first()
        if found is None or not history.version_visible(found, self.scope):
            raise NotFound(f"{resource_type}/{logical_id}/_history/{version} is not known")
        if found.deleted:
            raise Gone(
                f"Version {version} of {resource_type}/{logical_id} is a deletion",
                version=found.version,
            )
        return _stored(found)

    # --- create and update ------------------------------------------------------------------

    def create(self, *, doc: dict[str, Any], if_none_exist: str | None = None) -> WriteResult:
        """Create with a server id; with If-None-Exist, return the one match instead (200)."""
        resource_type = str(doc.get("resourceType", ""))
        self._check_write(resource_type, doc, None)
        if if_none_exist is None:
            return self._create(resource_type, doc)
        return _serialised(
            f"create:{resource_type}?{if_none_exist}",
            lambda: self._create_if_none(resource_type, doc, if_none_exist),
        )

    def _create(self, resource_type: str, doc: dict[str, Any]) -> WriteResult:
        with transaction.atomic():
            stored = writes.write_version(
                current=None,
                doc=doc,
                resource_type=resource_type,
                logical_id=writes.new_id(),
                method="POST",
            )
        return WriteResult(stored, 201, created=True)

    def _create_if_none(self, resource_type: str, doc: dict[str, Any], query: str) -> WriteResult:
        matches = self._matches(resource_type, query)
        if len(matches) > 1:
            raise PreconditionFailed(f"If-None-Exist matched {len(matches)} resources")
        if matches:
            return WriteResult(_stored(matches[0]), 200)
        return self._create(resource_type, doc)

    def update(
        self,
        *,
        resource_type: str,
        logical_id: str,
        doc: dict[str, Any],
        if_match: str | None = None,
    ) -> WriteResult:
        """Update, or create with the client's id (201) when it does not exist yet."""
        check_type(resource_type)
        check_id(logical_id)
        if doc.get("id") != logical_id:
            raise InvalidResource(
                "The id in the body must equal the id in the URL", code="invariant", http_status=400
            )
        with transaction.atomic():
            current = writes.lock_current(resource_type, logical_id)
            self._check_write(resource_type, doc, current)
            writes.check_if_match(current, if_match)
            created = current is None or current.deleted
            stored = writes.write_version(
                current=current,
                doc=doc,
                resource_type=resource_type,
                logical_id=logical_id,
                method="PUT",
            )
        return WriteResult(stored, 201 if created else 200, created=created)

    def conditional_update(
        self, *, resource_type: str, query: str, doc: dict[str, Any], if_match: str | None = None
    ) -> WriteResult:
        """PUT Type?criteria: 0 matches → create, 1 → update, more → 412.

        https://hl7.org/fhir/R4/http.html#cond-update
        """
        check_type(resource_type)
        return _serialised(
            f"update:{resource_type}?{query}",
            lambda: self._conditional_update(resource_type, query, doc, if_match),
        )

    def _conditional_update(
        self, resource_type: str, query: str, doc: dict[str, Any], if_match: str | None
    ) -> WriteResult:
        matches = self._matches(resource_type, query)
        if len(matches) > 1:
            raise PreconditionFailed(f"The criteria matched {len(matches)} resources")
        if matches:
            logical_id = matches[0].logical_id
            if doc.get("id") not in (None, logical_id):
                raise InvalidResource(
                    "The id in the body does not match the resource found", code="invariant"
                )
            return self.update(
                resource_type=resource_type,
                logical_id=logical_id,
                doc={**doc, "id": logical_id},
                if_match=if_match,
            )
        logical_id = str(doc.get("id") or writes.new_id())
        return self.update(
            resource_type=resource_type, logical_id=logical_id, doc={**doc, "id": logical_id}
        )

    def patch(
        self, *, resource_type: str, logical_id: str, operations: Any, if_match: str | None = None
    ) -> WriteResult:
        """JSON Patch (RFC 6902) on the current version; the result is validated like any update."""
        check_type(resource_type)
        with transaction.atomic():
            current = writes.lock_current(resource_type, logical_id)
            if current is None or not self._visible(current):
                raise NotFound(f"{resource_type}/{logical_id} is not known")
            if current.deleted:
                raise Gone(f"{resource_type}/{logical_id} was deleted", version=current.version)
            writes.check_if_match(current, if_match)
            doc = _apply_patch(jsontext.loads(current.text), operations)
            if doc.get("id") != logical_id or doc.get("resourceType") != resource_type:
                raise InvalidResource("A patch may not change resourceType or id", code="invariant")
            self._check_write(resource_type, doc, current)
            stored = writes.write_version(
                current=current,
                doc=doc,
                resource_type=resource_type,
                logical_id=logical_id,
                method="PATCH",
            )
        return WriteResult(stored, 200)

    # --- delete -----------------------------------------------------------------------------

    def delete(self, *, resource_type: str, logical_id: str) -> WriteResult | None:
        """Write a tombstone; None when there was nothing to delete (a success per the spec)."""
        check_type(resource_type)
        with transaction.atomic():
            current = writes.lock_current(resource_type, logical_id)
            if current is None or current.deleted:
                return None
            self._check_write(resource_type, None, current)
            return WriteResult(writes.write_tombstone(current=current), 200)

    def conditional_delete(self, *, resource_type: str, query: str) -> WriteResult | None:
        """DELETE Type?criteria: one match is deleted; several → 412 (single-delete mode)."""
        check_type(resource_type)

        def run() -> WriteResult | None:
            matches = self._matches(resource_type, query)
            if len(matches) > 1:
                raise PreconditionFailed(f"The criteria matched {len(matches)} resources")
            if not matches:
                return None
            return self.delete(resource_type=resource_type, logical_id=matches[0].logical_id)

        return _serialised(f"delete:{resource_type}?{query}", run)

    def _matches(self, resource_type: str, query: str) -> list[Resource]:
        from fhirstore.search.matches import find_matches

        if not query.strip():
            raise InvalidRequest("Conditional criteria must not be empty")
        return find_matches(resource_type=resource_type, query=query, scope=self.scope, limit=2)

    # --- bundle support (fhirstore.bundles) -------------------------------------------------

    def check_create(self, *, doc: dict[str, Any]) -> None:
        """Raise Forbidden unless the scope may create `doc` (the bulk path of transactions)."""
        self._check_write(str(doc.get("resourceType", "")), doc, None)

    def find_conditional(
        self, *, resource_type: str, query: str, lock: str | None
    ) -> list[Resource]:
        """Up to two matches of conditional criteria; with `lock` ("create", "update", "delete"),
        holding the lock the single-resource conditional write takes, until the transaction ends."""
        if lock is None:
            return self._matches(resource_type, query)
        return _serialised(
            f"{lock}:{resource_type}?{query}", lambda: self._matches(resource_type, query)
        )

    # --- history (fhirstore.history) --------------------------------------------------------

    def history(
        self,
        *,
        resource_type: str | None = None,
        logical_id: str | None = None,
        params: list[tuple[str, str]],
    ) -> Any:
        """History at instance, type or system level (https://hl7.org/fhir/R4/http.html#history)."""

        if resource_type is not None:
            self._check_read(resource_type)
        if logical_id is not None:
            assert resource_type is not None
            row = Resource.objects.filter(
                resource_type=resource_type, logical_id=logical_id
            ).first()
            if row is None or not self._visible(row):
                raise NotFound(f"{resource_type}/{logical_id} is not known")
        return history.history_page(
            scope=self.scope, resource_type=resource_type, logical_id=logical_id, params=params
        )


def _apply_patch(doc: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise InvalidRequest("A JSON Patch body must be an array of operations")
    try:
        result = jsonpatch.JsonPatch(operations).apply(doc)
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        TypeError,
        KeyError,
        ValueError,
    ) as error:
        raise InvalidRequest(
            f"The patch could not be applied: {error}", code="processing"
        ) from None
    if not isinstance(result, dict):
        raise InvalidRequest("The patch must leave a JSON object")
    return result
