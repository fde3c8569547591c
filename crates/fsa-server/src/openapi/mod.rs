//! The OpenAPI document served at `/openapi.json`.
//!
//! Handlers annotate their successes and the errors peculiar to them; the
//! errors every operation of a kind can return are added here, from the
//! operation's shape, so that no annotation can forget one:
//!
//! | shape | responses |
//! |---|---|
//! | a user token (`bearer`) | 401, 403, 429, 503 |
//! | the admin token (`admin`) | 401, 403, 503 |
//! | no token (login) | 429, 503 |
//! | a path parameter | 404; 400 `invalid_id` (not a UUID) or `invalid_path` (NUL) |
//! | a query string | 400 `invalid_query`/`invalid_cursor`, 422 |
//! | a JSON body | 400 `malformed_json`, 413, 415, 422 |
//! | any | 500 |
//!
//! Every error response is `application/problem+json` with the `Problem`
//! schema. Create operations get their own body schema (the fields a create
//! requires), derived from the PATCH body they share with the update;
//! regions are spelled as this deployment knows them; every text a request
//! sends refuses NUL, as the server does (PostgreSQL stores none); query
//! parameters are never `null`; operation ids are unique.
//!
//! The tests below check the finished document statically;
//! `scripts/fuzz-openapi.sh` checks it against the running service.

use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema};

use crate::error::PROBLEM_JSON;

mod links;
use links::add_links;

#[derive(OpenApi)]
#[openapi(
    info(title = "fsa", description = "Multi-tenant Field Service Automation API. Errors are application/problem+json with a `code`."),
    modifiers(&BearerSchemes)
)]
pub(crate) struct ApiDoc;

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = || {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// A create's body, derived from the body the create shares with its update.
struct Create {
    /// The create operation's path.
    path: &'static str,
    /// The body schema it shares with the update.
    shared: &'static str,
    /// The create body's schema.
    name: &'static str,
    /// Fields a create requires, never null.
    required: &'static [&'static str],
    /// Fields a create refuses.
    refused: &'static [&'static str],
}

const CREATES: &[Create] = &[
    Create {
        path: "/api/v1/clients",
        shared: "ClientBody",
        name: "NewClient",
        required: &["name"],
        refused: &[],
    },
    Create {
        path: "/api/v1/personnel",
        shared: "PersonnelBody",
        name: "NewPersonnel",
        required: &["name"],
        refused: &[],
    },
    Create {
        path: "/api/v1/work-orders",
        shared: "WorkOrderBody",
        name: "NewWorkOrder",
        required: &["client_id", "title"],
        refused: &["status"],
    },
    Create {
        path: "/api/v1/work-orders/{id}/tasks",
        shared: "TaskBody",
        name: "NewTask",
        required: &["title"],
        refused: &[],
    },
];

/// Request bodies with a `region` field.
const REGION_BODIES: &[&str] = &["CreateTenant", "PatchTenant", "MoveBody"];

/// Completes the generated document: the common problem responses, the
/// create bodies, and `regions` (the names this deployment accepts) as the
/// pattern of every `region` field.
///
/// The result is JSON: utoipa's types cannot hold every schema written here
/// (a recursive `anyOf`, `propertyNames`).
pub fn finish(doc: utoipa::openapi::OpenApi, regions: &[String]) -> Value {
    let mut v = serde_json::to_value(&doc).expect("an OpenAPI document serialises");
    let v_paths = v["paths"].clone();
    let schemas = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("the document has component schemas");
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert("JsonValue".into(), json_value_schema());
    if let Some(a) = schemas
        .get_mut("WorkOrderBody")
        .and_then(|s| s.pointer_mut("/properties/attributes"))
    {
        a["additionalProperties"] = json!({ "$ref": "#/components/schemas/JsonValue" });
        a["propertyNames"] = json!({ "pattern": NO_NUL });
    }
    for body in request_bodies(&v_paths) {
        if let Some(s) = schemas.get_mut(&body) {
            refuse_nul(s);
        }
    }
    for c in CREATES {
        if let Some(s) = schemas.get(c.shared).cloned() {
            schemas.insert(c.name.into(), create_schema(s, c.required, c.refused));
        }
    }
    let pattern = region_pattern(regions);
    for body in REGION_BODIES {
        if let Some(region) = schemas
            .get_mut(*body)
            .and_then(|s| s.pointer_mut("/properties/region"))
        {
            region["pattern"] = Value::String(pattern.clone());
            region["description"] = format!(
                "A configured region (letters in any case): {}.",
                regions.join(", ")
            )
            .into();
        }
    }
    for c in CREATES {
        if let Some(schema) = v.pointer_mut(&format!(
            "/paths/{}/post/requestBody/content/application~1json/schema",
            c.path.replace('~', "~0").replace('/', "~1")
        )) {
            *schema = json!({ "$ref": format!("#/components/schemas/{}", c.name) });
        }
    }
    let mut ids: std::collections::HashMap<String, usize> = Default::default();
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                if op.get("responses").is_some() {
                    add_problem_responses(op);
                    query_values_are_never_null(op);
                    *ids.entry(op["operationId"].as_str().unwrap_or_default().into())
                        .or_default() += 1;
                }
            }
        }
        // Handlers of different resources share names (`list`, `get`):
        // an operation id must be unique, so those are named by their tag.
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut().filter(|op| op.get("responses").is_some()) {
                let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                if ids.get(&id).copied().unwrap_or(0) > 1 {
                    let tag = op["tags"][0].as_str().unwrap_or("api").replace(' ', "_");
                    op["operationId"] = format!("{tag}_{id}").into();
                }
            }
        }
    }
    add_links(&mut v);
    v
}

/// A text without the NUL character, which the server refuses in any text
/// it is sent (no database column takes one).
const NO_NUL: &str = "^[^\\x00]*$";
/// A text that is not blank (the server trims text and refuses an empty
/// one), without NUL. Blank is Rust's `char::is_whitespace` (Unicode's
/// White_Space), spelled out: `\s` differs between regex engines (ECMA's
/// lacks U+0085 and has U+FEFF).
const NOT_BLANK: &str = "^[^\\x00]*[^\\x00\\t\\n\\x0B\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\x00]*$";

/// The component names of every request body.
fn request_bodies(paths: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for item in paths.as_object().into_iter().flat_map(|m| m.values()) {
        for op in item.as_object().into_iter().flat_map(|m| m.values()) {
            if let Some(r) = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
            {
                out.push(r.trim_start_matches("#/components/schemas/").to_owned());
            }
        }
    }
    out
}

/// Gives every text of a request schema the server's rule on NUL.
fn refuse_nul(s: &mut Value) {
    let is_text = match &s["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    if is_text {
        let p = match s["pattern"].as_str() {
            None => Some(NO_NUL),
            Some("\\S") => Some(NOT_BLANK),
            Some(_) => None,
        };
        if let Some(p) = p {
            s["pattern"] = p.into();
        }
    }
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(refuse_nul);
    }
    if let Some(items) = s.get_mut("items") {
        refuse_nul(items);
    }
    for k in ["oneOf", "anyOf"] {
        if let Some(alts) = s.get_mut(k).and_then(Value::as_array_mut) {
            alts.iter_mut().for_each(refuse_nul);
        }
    }
}

/// Any JSON value without NUL in its texts and keys: what a work order's
/// `attributes` hold.
fn json_value_schema() -> Value {
    let me = json!({ "$ref": "#/components/schemas/JsonValue" });
    json!({
        "description": "Any JSON value; no text or key holds the NUL character.",
        "anyOf": [
            { "type": ["null", "boolean", "number"] },
            { "type": "string", "pattern": NO_NUL },
            { "type": "array", "items": me },
            { "type": "object", "additionalProperties": me, "propertyNames": { "pattern": NO_NUL } }
        ]
    })
}

/// A query parameter is absent or a text: `null` is no value it can have.
fn query_values_are_never_null(op: &mut Value) {
    for p in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if p["in"] == "query"
            && let Some(schema) = p.get_mut("schema")
        {
            not_null(schema);
            if schema["type"] == "string" && schema.get("format").is_none() {
                schema["pattern"] = NO_NUL.into();
            }
        }
    }
}

/// The regions accepted by a region field, as a pattern that ignores case
/// (as the server does) without inline flags, which not every engine knows.
fn region_pattern(regions: &[String]) -> String {
    let names: Vec<String> = regions
        .iter()
        .map(|r| {
            r.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$", names.join("|"))
}

/// A create body: `shared` with `required` present and not null, and
/// without `refused`.
fn create_schema(mut shared: Value, required: &[&str], refused: &[&str]) -> Value {
    if let Some(props) = shared.get_mut("properties").and_then(Value::as_object_mut) {
        for f in refused {
            props.remove(*f);
        }
        for f in required {
            if let Some(p) = props.get_mut(*f) {
                not_null(p);
            }
        }
    }
    shared["required"] = json!(required);
    shared
}

/// Removes `null` from a property's types.
fn not_null(p: &mut Value) {
    if let Some(Value::Array(types)) = p.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            p["type"] = types[0].clone();
        }
    }
    if let Some(Value::Array(alts)) = p.get_mut("oneOf") {
        alts.retain(|a| a.get("type").is_none_or(|t| t != "null"));
        if alts.len() == 1 {
            *p = alts[0].clone();
        }
    }
}

/// The problem+json body of every error.
fn problem_schema() -> Value {
    let status = || serde_json::to_value(fsa_core::WorkOrderStatus::schema()).unwrap_or_default();
    json!({
        "type": "object",
        "description": "An error, as RFC 9457 problem details with a stable `code`.",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": { "type": "string", "description": "A URI naming the problem." },
            "title": { "type": "string" },
            "status": { "type": "integer", "minimum": 100, "maximum": 599 },
            "detail": { "type": "string" },
            "instance": { "type": "string", "description": "The request, as `urn:fsa:request:<id>`; the id is also the response's `x-request-id` header." },
            "code": { "type": "string", "description": "Stable and machine-readable, e.g. `invalid_id`, `validation_failed`, `plan_limit_reached`, `rate_limited`." },
            "field": { "type": "string", "description": "The field a validation failure is about." },
            "from": status(),
            "to": status(),
            "allowed": { "type": "array", "items": status(), "description": "The statuses a work order may move to." },
            "resource": serde_json::to_value(fsa_core::Resource::schema()).unwrap_or_default(),
            "limit": { "type": "integer", "minimum": 0 },
            "used": { "type": "integer", "minimum": 0 },
            "plan": serde_json::to_value(fsa_core::Plan::schema()).unwrap_or_default(),
            "reason": { "type": "string", "description": "With `preflight_failed`: why the move may not begin, e.g. `dedicated_placement_taken`, `placement_not_ready`, `tenant_not_active`." }
        }
    })
}

/// How a caller proves who it is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    User,
    Admin,
    Public,
}

fn access(op: &Value) -> Access {
    let named = |n: &str| {
        op["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.get(n).is_some()))
    };
    if named("bearer") {
        Access::User
    } else if named("admin") {
        Access::Admin
    } else {
        Access::Public
    }
}

/// The statuses every operation of this shape can return, with what they mean.
fn common_responses(op: &Value) -> Vec<(&'static str, String)> {
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let in_path: Vec<&Value> = params.iter().filter(|p| p["in"] == "path").collect();
    let uuid_path = in_path.iter().any(|p| p["schema"]["format"] == "uuid");
    let text_path = in_path.iter().any(|p| p["schema"]["format"] != "uuid");
    let query = params.iter().any(|p| p["in"] == "query");
    let body = op.get("requestBody").is_some();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut bad = Vec::new();
    if uuid_path {
        bad.push("`invalid_id`: a path id is not a UUID");
    }
    if text_path {
        bad.push("`invalid_path`: a path parameter holds the NUL character");
    }
    if query {
        bad.push("`invalid_query` or `invalid_cursor`: the query string does not parse");
    }
    if body {
        bad.push("`malformed_json`: the body is not JSON");
    }
    if !bad.is_empty() {
        out.push(("400", bad.join("; ")));
    }
    match access(op) {
        Access::User => {
            out.push((
                "401",
                "`token_missing`, `token_invalid` or `token_expired`".into(),
            ));
            out.push((
                "403",
                "`forbidden`: the caller's role may not do this; `tenant_suspended`; `plan_limit_reached`".into(),
            ));
        }
        Access::Admin => {
            out.push(("401", "`token_missing` or `token_invalid`".into()));
            out.push((
                "403",
                "`admin_token_required`: a tenant user's token".into(),
            ));
        }
        Access::Public => {}
    }
    if !in_path.is_empty() {
        out.push(("404", "`not_found`".into()));
    }
    if body {
        out.push((
            "413",
            "`payload_too_large`: the body is over the limit".into(),
        ));
        out.push((
            "415",
            "`unsupported_media_type`: the body is not sent as application/json".into(),
        ));
    }
    if body || query {
        out.push((
            "422",
            "`validation_failed`: a value breaks a rule of the schema or refers to a missing record (`field` names it)".into(),
        ));
    }
    if access(op) != Access::Admin {
        out.push((
            "429",
            "`rate_limited`: too many requests; retry after `Retry-After` seconds".into(),
        ));
    }
    out.push((
        "503",
        "`placement_unavailable`, `database_busy`, `tenant_moved` or `statement_timeout`: retry after `Retry-After` seconds".into(),
    ));
    out.push((
        "500",
        "`internal`: an unexpected failure, logged by the server".into(),
    ));
    out
}

fn problem_content() -> Value {
    json!({ PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } })
}

/// Adds the common problem responses to an operation and gives every error
/// response (including those a handler annotated) the problem body.
fn add_problem_responses(op: &mut Value) {
    let common = common_responses(op);
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, description) in common {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": description }));
    }
    for (status, r) in responses.iter_mut() {
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        if code < 400 {
            continue;
        }
        let r = r.as_object_mut().expect("a response is an object");
        if r.get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            r.insert(
                "description".into(),
                axum::http::StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error")
                    .into(),
            );
        }
        r.insert("content".into(), problem_content());
        let mut headers = Map::new();
        match code {
            429 | 503 => {
                headers.insert(
                    "Retry-After".into(),
                    json!({ "description": "Seconds to wait before retrying.", "schema": { "type": "integer", "minimum": 0 } }),
                );
            }
            401 => {
                headers.insert(
                    "WWW-Authenticate".into(),
                    json!({ "schema": { "type": "string" } }),
                );
            }
            _ => {}
        }
        if !headers.is_empty() {
            r.insert("headers".into(), Value::Object(headers));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        crate::openapi_document(&["EU".into(), "default".into()])
    }

    /// `s`, or the component schema its `$ref` names.
    fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
        match s["$ref"].as_str() {
            Some(r) => doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{r} is not in the document")),
            None => s,
        }
    }

    fn nullable(s: &Value) -> bool {
        s["nullable"] == json!(true)
            || s["type"] == json!("null")
            || s["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("null")))
            || ["oneOf", "anyOf"].iter().any(|k| {
                s[*k]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|s| s["type"] == json!("null")))
            })
    }

    /// A client following the document's links never sends a value the
    /// response may leave out or set to null: every `$response.body#/…`
    /// names a required, non-nullable field, and every path parameter of
    /// the target is given.
    #[test]
    fn links_feed_path_ids_from_fields_that_are_always_there() {
        let doc = doc();
        let ops = operations(&doc);
        let by_id: std::collections::HashMap<&str, (&str, &str)> = ops
            .iter()
            .map(|(m, p, op)| {
                (
                    op["operationId"].as_str().unwrap(),
                    (m.as_str(), p.as_str()),
                )
            })
            .collect();
        let mut seen = 0;
        for (method, path, op) in &ops {
            for (status, res) in op["responses"].as_object().unwrap() {
                let Some(links) = res["links"].as_object() else {
                    continue;
                };
                let body = resolve(&doc, &res["content"]["application/json"]["schema"]);
                for (name, link) in links {
                    seen += 1;
                    let at = format!("{method} {path} {status} → {name}");
                    let target = link["operationId"].as_str().unwrap();
                    let (tm, tp) = by_id
                        .get(target)
                        .unwrap_or_else(|| panic!("{at}: no such operation"));
                    let params = link["parameters"].as_object().unwrap();
                    for seg in tp.split('/').filter(|s| s.starts_with('{')) {
                        let p = seg.trim_matches(|c| c == '{' || c == '}');
                        assert!(params.contains_key(p), "{at}: {tm} {tp} needs {p}");
                    }
                    for (p, e) in params {
                        let e = e.as_str().unwrap();
                        if let Some(field) = e.strip_prefix("$response.body#/") {
                            let required = body["required"]
                                .as_array()
                                .unwrap_or_else(|| panic!("{at}: no required fields"));
                            assert!(
                                required.contains(&json!(field)),
                                "{at}: {p} from {field}, which may be absent"
                            );
                            let f = resolve(&doc, &body["properties"][field]);
                            assert!(
                                !nullable(f),
                                "{at}: {p} from {field}, which may be null: {f}"
                            );
                        } else if let Some(q) = e.strip_prefix("$request.path.") {
                            assert!(
                                path.contains(&format!("{{{q}}}")),
                                "{at}: {path} has no {q}"
                            );
                        } else {
                            panic!("{at}: {p} = {e}");
                        }
                    }
                }
            }
        }
        let expected: usize = links::LINKS
            .iter()
            .map(|l| {
                l.to.iter()
                    .map(|t| doc["paths"][*t].as_object().map_or(0, |i| i.len()))
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(seen, expected, "every link of the table is in the document");
        assert!(seen > 20, "{seen}");
    }

    /// Every operation, as (method, path, operation).
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("responses").is_some() {
                    out.push((method.clone(), path.clone(), op.clone()));
                }
            }
        }
        assert!(out.len() > 30, "{} operations", out.len());
        out
    }

    fn statuses(op: &Value) -> Vec<&str> {
        op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn every_operation_documents_the_problems_it_can_return() {
        let doc = doc();
        for (method, path, op) in operations(&doc) {
            let has = statuses(&op);
            let need = |s: &str, why: &str| {
                assert!(
                    has.contains(&s),
                    "{method} {path}: no {s} ({why}); has {has:?}"
                );
            };
            need("500", "any operation");
            need("503", "any operation");
            match access(&op) {
                Access::User => {
                    for s in ["401", "403", "429"] {
                        need(s, "a user token");
                    }
                }
                Access::Admin => {
                    for s in ["401", "403"] {
                        need(s, "the admin token");
                    }
                }
                Access::Public => {
                    assert!(
                        path == "/api/v1/auth/login",
                        "{method} {path} has no security requirement"
                    );
                    need("401", "wrong credentials");
                    need("429", "login throttling");
                }
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "path") {
                need("404", "a path parameter");
            }
            if params.iter().any(|p| p["schema"]["format"] == "uuid") {
                need("400", "a UUID path parameter");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    need(s, "a JSON body");
                }
            }
            for (status, r) in op["responses"].as_object().unwrap() {
                if status.as_str() >= "400" {
                    assert_eq!(
                        r["content"][PROBLEM_JSON]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status} is not problem+json"
                    );
                } else {
                    assert!(
                        r["content"].get(PROBLEM_JSON).is_none(),
                        "{method} {path} {status}"
                    );
                }
            }
            for s in ["429", "503"] {
                if let Some(r) = op["responses"].get(s) {
                    assert!(
                        r["headers"].get("Retry-After").is_some(),
                        "{method} {path} {s}"
                    );
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = doc();
        let mut seen = std::collections::HashSet::new();
        for (method, path, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(
                seen.insert(id.clone()),
                "{method} {path}: operationId {id} twice"
            );
        }
    }

    #[test]
    fn path_ids_are_uuids_and_slugs_have_their_pattern() {
        let doc = doc();
        for (method, path, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "path" {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                assert_eq!(p["required"], true, "{method} {path} {name}");
                if name == "slug" {
                    assert!(p["schema"]["pattern"].is_string(), "{method} {path} slug");
                } else {
                    assert!(
                        name == "id" || name.ends_with("_id"),
                        "{method} {path}: path parameter {name}"
                    );
                    assert_eq!(p["schema"]["format"], "uuid", "{method} {path} {name}");
                }
            }
        }
    }

    #[test]
    fn list_limits_and_query_values_are_bounded() {
        let doc = doc();
        let mut lists = 0;
        for (method, path, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "query" {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                let s = &p["schema"];
                assert_ne!(p["required"], true, "{method} {path} {name}");
                assert!(
                    !s["type"].is_array() && s.get("oneOf").is_none(),
                    "{method} {path} {name} may be null"
                );
                if name == "limit" {
                    lists += 1;
                    assert_eq!(s["minimum"], 1, "{method} {path}");
                    assert_eq!(s["maximum"], fsa_store::page::MAX_LIMIT, "{method} {path}");
                }
                if name == "sort" {
                    assert!(s["enum"].is_array(), "{method} {path} sort");
                }
                if matches!(name, "client_id" | "assigned_to") {
                    assert_eq!(s["format"], "uuid", "{method} {path} {name}");
                }
            }
        }
        assert!(lists >= 4, "{lists} lists with a limit");
    }

    #[test]
    fn bodies_refuse_unknown_fields_and_creates_require_their_fields() {
        let doc = doc();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (method, path, op) in operations(&doc) {
            let Some(body) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                // An upload's form is the one body that is not JSON.
                let form = &op["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"];
                assert!(
                    op.get("requestBody").is_none() || form.is_string(),
                    "{method} {path}: inline body"
                );
                continue;
            };
            let name = body.trim_start_matches("#/components/schemas/");
            let s = &schemas[name];
            assert_eq!(s["additionalProperties"], false, "{method} {path} {name}");
        }
        for c in CREATES {
            let op = &doc["paths"][c.path]["post"];
            assert_eq!(
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                format!("#/components/schemas/{}", c.name),
                "{}",
                c.path
            );
            let s = &schemas[c.name];
            for f in c.required {
                assert!(
                    s["required"].as_array().unwrap().contains(&json!(f)),
                    "{} {f}",
                    c.name
                );
                assert!(
                    !s["properties"][f]["type"].is_array(),
                    "{} {f} is nullable",
                    c.name
                );
            }
            for f in c.refused {
                assert!(s["properties"].get(f).is_none(), "{} {f}", c.name);
            }
        }
    }

    #[test]
    fn text_fields_carry_the_lengths_the_server_enforces() {
        let doc = doc();
        let s = &doc["components"]["schemas"];
        for (schema, field, max) in [
            ("ClientBody", "name", 200),
            ("ClientBody", "address", 500),
            ("WorkOrderBody", "title", 300),
            ("WorkOrderBody", "description", 10_000),
            ("TaskBody", "title", 300),
            ("PersonnelBody", "phone", 50),
            ("CreateUser", "name", 200),
            ("CreateTenant", "name", 200),
        ] {
            assert_eq!(
                s[schema]["properties"][field]["maxLength"], max,
                "{schema}.{field}"
            );
        }
        for (schema, field) in [
            ("CreateUser", "password"),
            ("CreateTenant", "admin_password"),
        ] {
            let p = &s[schema]["properties"][field];
            assert_eq!(p["minLength"], 8, "{schema}.{field}");
            assert_eq!(p["maxLength"], 256, "{schema}.{field}");
        }
        for (schema, field) in [("CreateUser", "email"), ("CreateTenant", "admin_email")] {
            assert_eq!(
                s[schema]["properties"][field]["format"], "email",
                "{schema}.{field}"
            );
        }
        assert_eq!(
            s["CreateTenant"]["properties"]["region"]["pattern"],
            "^([Ee][Uu]|[Dd][Ee][Ff][Aa][Uu][Ll][Tt])$"
        );
    }

    #[test]
    fn every_text_sent_refuses_nul() {
        let doc = doc();
        fn texts(s: &Value, at: &str, out: &mut Vec<(String, Value)>) {
            if s["type"] == "string"
                || s["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("string")))
            {
                out.push((at.to_owned(), s["pattern"].clone()));
            }
            for (k, p) in s["properties"].as_object().into_iter().flatten() {
                texts(p, &format!("{at}.{k}"), out);
            }
            if let Some(items) = s.get("items") {
                texts(items, &format!("{at}[]"), out);
            }
        }
        let mut found = Vec::new();
        for body in request_bodies(&doc["paths"]) {
            texts(&doc["components"]["schemas"][&body], &body, &mut found);
        }
        for (_, path, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["schema"]["type"] == "string" && p["schema"].get("format").is_none() {
                    found.push((
                        format!("{path} {}", p["name"]),
                        p["schema"]["pattern"].clone(),
                    ));
                }
            }
        }
        assert!(found.len() > 40, "{}", found.len());
        for (at, pattern) in found {
            let p = pattern
                .as_str()
                .unwrap_or_else(|| panic!("{at} has no pattern"));
            assert!(
                p.contains("[^\\x00]")
                    || p.starts_with("^[a-z]")
                    || p.starts_with("^(now")
                    || p.starts_with("^(["),
                "{at}: {p}"
            );
        }
        let attrs = &doc["components"]["schemas"]["NewWorkOrder"]["properties"]["attributes"];
        assert_eq!(
            attrs["additionalProperties"]["$ref"],
            "#/components/schemas/JsonValue"
        );
    }

    #[test]
    fn blank_is_what_the_server_trims() {
        let class: String = NOT_BLANK
            .split_once("*[^")
            .and_then(|(_, rest)| rest.split_once(']'))
            .unwrap()
            .0
            .to_owned();
        // Every whitespace character is in the class, and nothing else but NUL.
        let named: Vec<char> = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        for c in named {
            let listed = match c {
                '\t' => class.contains("\\t"),
                '\n' => class.contains("\\n"),
                '\u{b}' => class.contains("\\x0B"),
                '\u{c}' => class.contains("\\f"),
                '\r' => class.contains("\\r"),
                ' ' => class.contains(' '),
                '\u{85}' => class.contains("\\x85"),
                '\u{a0}' => class.contains("\\xA0"),
                '\u{2000}'..='\u{200a}' => class.contains("\\u2000-\\u200A"),
                c => class.contains(&format!("\\u{:04X}", c as u32)),
            };
            assert!(
                listed,
                "U+{:04X} is whitespace but not in {class}",
                c as u32
            );
        }
        assert!(!'\u{feff}'.is_whitespace());
    }

    #[test]
    fn the_region_pattern_ignores_case_only() {
        let p = region_pattern(&["EU".into(), "us-2".into()]);
        assert_eq!(p, "^([Ee][Uu]|[Uu][Ss]-2)$");
    }
}
