"""Schemathesis hooks for fsa's fuzz run (scripts/fuzz-openapi.sh).

They supply what a schema cannot say, and nothing else:

- A list's `cursor` is opaque: only a `next_cursor` the server gave out is
  valid, so a generated one is dropped (any other is refused with 400).
- A body that refers to another record (`client_id`, `assigned_to`, ...)
  names a record that exists: a UUID the fixture made replaces a generated
  one (a missing record is refused with 422, as documented).
- Ranges are ordered: `due_from` <= `due_to`, `scheduled_start` <=
  `scheduled_end` (a reversed range is refused with 422, as documented).
- A link inferred from an unset reference (`user_id: null`) names a
  random id rather than "None".
- The fixture's own user and records are not deleted or re-passworded by the
  run, which would end its token or its references half-way.

The fixture's ids come from the environment (FSA_FUZZ_*).
"""

import datetime
import os
import uuid

import schemathesis

REFS = {
    "client_id": os.environ.get("FSA_FUZZ_CLIENT"),
    "assigned_to": os.environ.get("FSA_FUZZ_PERSONNEL"),
    "assignee_id": os.environ.get("FSA_FUZZ_PERSONNEL"),
    "user_id": None,  # a personnel record may stay unlinked
}
PROTECTED = {v for v in (
    os.environ.get("FSA_FUZZ_CLIENT"),
    os.environ.get("FSA_FUZZ_PERSONNEL"),
    os.environ.get("FSA_FUZZ_USER"),
) if v}


def _is_uuid(v):
    try:
        uuid.UUID(str(v))
        return isinstance(v, str)
    except ValueError:
        return False


def _date(v, kind):
    if not isinstance(v, str):
        return None
    try:
        if kind == "date":
            return datetime.date.fromisoformat(v)
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _ordered(d, lo, hi, kind):
    a, b = _date(d.get(lo), kind), _date(d.get(hi), kind)
    if a is None or b is None:
        return
    try:
        reversed_ = a > b
    except TypeError:  # naive against aware
        return
    if reversed_:
        d[lo], d[hi] = d[hi], d[lo]


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        _ordered(case.query, "due_from", "due_to", "date")
    if isinstance(case.body, dict):
        for field, real in REFS.items():
            if field in case.body and _is_uuid(case.body[field]):
                if real:
                    case.body[field] = real
                else:
                    case.body[field] = None
        _ordered(case.body, "scheduled_start", "scheduled_end", "date-time")
    if isinstance(case.path_parameters, dict):
        # A link the stateful phase infers from a nullable reference
        # (personnel.user_id) carries None when the reference is unset.
        for name, value in case.path_parameters.items():
            if value is None:
                case.path_parameters[name] = str(uuid.uuid4())
    if case.method.upper() in ("DELETE", "PATCH") and isinstance(case.path_parameters, dict):
        for name, value in case.path_parameters.items():
            if str(value) in PROTECTED:
                case.path_parameters[name] = str(uuid.uuid4())
