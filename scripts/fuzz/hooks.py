"""Schemathesis hooks for fsa's fuzz run (scripts/fuzz-openapi.sh).

They supply what a schema cannot say, and nothing else. What the service
refuses by design (a cursor it never gave out, a reference to no record)
is named in schemathesis.toml beside this file, not avoided here:

- A body that refers to another record (`client_id`, `assigned_to`, ...)
  names a record that exists: a generated UUID no response has named is
  replaced by one the fixture made (a missing record is refused with 422,
  as documented).
- Ranges are ordered: `due_from` <= `due_to`, `scheduled_start` <=
  `scheduled_end` (a reversed range is refused with 422, as documented).
- The fixture's own user and records are not deleted or changed by the
  run (a new password or role would end its token half-way); a spare user
  is changed instead.

The fixture's ids come from the environment (FSA_FUZZ_*).
"""

import datetime
import os
import uuid

import schemathesis

# Ids of records the API has answered with: a reference to one is kept.
SEEN = set()

REFS = {
    "client_id": os.environ.get("FSA_FUZZ_CLIENT"),
    "assigned_to": os.environ.get("FSA_FUZZ_PERSONNEL"),
    "assignee_id": os.environ.get("FSA_FUZZ_PERSONNEL"),
    "user_id": None,  # a personnel record may stay unlinked
}
SELF = os.environ.get("FSA_FUZZ_USER")
SPARE = os.environ.get("FSA_FUZZ_SPARE_USER")
PROTECTED = {os.environ.get("FSA_FUZZ_CLIENT"), os.environ.get("FSA_FUZZ_PERSONNEL")}


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
        _ordered(case.query, "due_from", "due_to", "date")
    if isinstance(case.body, dict):
        for field, real in REFS.items():
            value = case.body.get(field)
            if _is_uuid(value) and value not in SEEN:
                case.body[field] = real
        _ordered(case.body, "scheduled_start", "scheduled_end", "date-time")
    method = case.method.upper()
    if isinstance(case.path_parameters, dict):
        for name, value in list(case.path_parameters.items()):
            value = str(value)
            if method == "DELETE" and value in (SELF, SPARE):
                value = SELF
            elif method == "PATCH" and value == SELF:
                value = SPARE
            elif method in ("DELETE", "PATCH") and value in PROTECTED:
                value = str(uuid.uuid4())
            case.path_parameters[name] = value


def _collect_ids(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if (k == "id" or k.endswith("_id")) and _is_uuid(v):
                SEEN.add(v)
            else:
                _collect_ids(v)
    elif isinstance(value, list):
        for v in value:
            _collect_ids(v)


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() == "DELETE" and response.status_code == 204:
        for value in (case.path_parameters or {}).values():
            SEEN.discard(str(value))
    elif 200 <= response.status_code < 300:
        try:
            _collect_ids(response.json())
        except Exception:
            pass
