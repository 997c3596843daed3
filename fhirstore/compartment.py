"""Which patients' compartments a resource belongs to, decided at write time.

From the official R4 CompartmentDefinition (fhirstore/data/compartmentdefinition-patient.json): a
resource is in Patient X's compartment when one of the listed search parameters references
Patient/X; a Patient is in its own. The parameters' expressions used there are plain paths with an
optional `.where(resolve() is Type)`, so they are compiled here to key paths without a FHIRPath
engine.
http://hl7.org/fhir/R4/compartmentdefinition-patient.html
"""

import functools
import json
import re
from pathlib import Path
from typing import Any

_DATA = Path(__file__).resolve().parent / "data"
_WHERE_RESOLVE = re.compile(r"\.where\(resolve\(\) is (\w+)\)$")

Path_ = tuple[tuple[str, ...], str | None]  # (keys below the resource, required target type)


@functools.cache
def _expressions() -> dict[tuple[str, str], str]:
    bundle = json.loads((_DATA / "search-parameters.json").read_text())
    found: dict[tuple[str, str], str] = {}
    for entry in bundle["entry"]:
        param = entry["resource"]
        for base in param.get("base", []):
            found[(base, param["code"])] = param.get("expression") or ""
    return found


def _compile(resource_type: str, expression: str) -> list[Path_]:
    paths: list[Path_] = []
    for part in expression.split("|"):
        part = part.strip()
        if not part.startswith(resource_type + "."):
            continue
        target = None
        match = _WHERE_RESOLVE.search(part)
        if match:
            target, part = match.group(1), part[: match.start()]
        paths.append((tuple(part.split(".")[1:]), target))
    return paths


@functools.cache
def compartment_paths() -> dict[str, list[Path_]]:
    """Key paths per resource type whose references place it in a patient's compartment."""
    definition = json.loads((_DATA / "compartmentdefinition-patient.json").read_text())
    expressions = _expressions()
    paths: dict[str, list[Path_]] = {}
    for entry in definition["resource"]:
        resource_type = entry["code"]
        for code in entry.get("param", []):
            expression = expressions.get((resource_type, code), "")
            paths.setdefault(resource_type, []).extend(_compile(resource_type, expression))
    return paths


def _values(node: Any, keys: tuple[str, ...]) -> list[Any]:
    nodes = [node]
    for key in keys:
        nxt: list[Any] = []
        for item in nodes:
            value = item.get(key) if isinstance(item, dict) else None
            if isinstance(value, list):
                nxt.extend(value)
            elif value is not None:
                nxt.append(value)
        nodes = nxt
    return nodes


def _patient_id(reference: Any) -> str | None:
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


def patients_of(doc: dict[str, Any]) -> set[str]:
    """The ids of the patients whose compartment `doc` belongs to (local references only)."""
    resource_type = doc.get("resourceType", "")
    found: set[str] = set()
    if resource_type == "Patient" and doc.get("id"):
        found.add(doc["id"])
    if resource_type == "Binary":
        # R4 puts Binary in no compartment, but its securityContext says whose data it is: a
        # Binary guarded by a Patient belongs to that patient, so their apps can read it.
        patient = _patient_id(doc.get("securityContext"))
        if patient:
            found.add(patient)
    for keys, target in compartment_paths().get(resource_type, []):
        if target not in (None, "Patient"):
            continue
        for reference in _values(doc, keys):
            patient = _patient_id(reference)
            if patient:
                found.add(patient)
    return found


def patients_of_targets(targets: list[tuple[str, str]]) -> set[str]:
    """Patients whose compartments hold the given current resources (one query)."""
    from django.db.models import Q

    from fhirstore.models import CompartmentMember

    if not targets:
        return set()
    condition = Q()
    for resource_type, logical_id in targets:
        condition |= Q(resource__resource_type=resource_type, resource__logical_id=logical_id)
    rows = CompartmentMember.objects.filter(condition).values_list("patient_id", flat=True)
    return set(rows)
