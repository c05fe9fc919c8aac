"""Validates an export with third-party validators (run by scripts/validators.sh's venv).

    python validate.py junit FILE.xml SCHEMA.xsd
    python validate.py oscal FILE.json

`junit`: xmlschema checks the file against the schema. `oscal`: compliance-trestle reads
the file into its OSCAL assessment-results model, which validates every field; then the
references inside the document are checked (every UUID unique, every subject an
inventory item of the result, every related observation an observation), which the
model alone does not do. Prints "valid: ..." and exits 0, or prints why and exits 1.
"""

import json
import pathlib
import sys


def junit(path, schema_path):
    import xmlschema

    schema = xmlschema.XMLSchema10(schema_path)
    errors = list(schema.iter_errors(path))
    if errors:
        for e in errors[:5]:
            print(f"invalid: {e.reason} at {e.path}", file=sys.stderr)
        sys.exit(1)
    print(f"valid: {path} against {schema_path} (xmlschema {xmlschema.__version__})")


def oscal(path):
    from trestle.oscal import OSCAL_VERSION
    from trestle.oscal.assessment_results import AssessmentResults

    model = AssessmentResults.oscal_read(pathlib.Path(path))
    if model is None:
        print(f"invalid: trestle read nothing from {path}", file=sys.stderr)
        sys.exit(1)
    doc = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["assessment-results"]
    problems = []
    seen = set()

    def uuid(u, where):
        if u in seen:
            problems.append(f"{where}: uuid {u} is used twice")
        seen.add(u)

    uuid(doc["uuid"], "assessment-results")
    for r in doc["results"]:
        uuid(r["uuid"], "result")
        items = {i["uuid"] for i in r.get("local-definitions", {}).get("inventory-items", [])}
        for u in items:
            uuid(u, "inventory-item")
        observations = set()
        for o in r.get("observations", []):
            uuid(o["uuid"], "observation")
            observations.add(o["uuid"])
            for s in o.get("subjects", []):
                if s["type"] == "inventory-item" and s["subject-uuid"] not in items:
                    problems.append(f"observation {o['uuid']}: no inventory item {s['subject-uuid']}")
        for f in r.get("findings", []):
            uuid(f["uuid"], "finding")
            for ro in f.get("related-observations", []):
                if ro["observation-uuid"] not in observations:
                    problems.append(f"finding {f['uuid']}: no observation {ro['observation-uuid']}")
    if problems:
        for p in problems[:5]:
            print(f"invalid: {p}", file=sys.stderr)
        sys.exit(1)
    print(f"valid: {path} as OSCAL {OSCAL_VERSION} assessment-results (compliance-trestle)")


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "junit":
        junit(args[1], args[2])
    elif len(args) == 2 and args[0] == "oscal":
        oscal(args[1])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
