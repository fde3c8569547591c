//! The OpenAPI document's links: from an operation's success to the
//! operations a client follows it with (schemathesis's stateful phase walks
//! them).

use serde_json::{Map, Value, json};

/// The document's links: from an operation's success to the operations a
/// client follows it with, every parameter from a field that response
/// always has (an id, never a nullable reference such as a personnel's
/// `user_id`, which would send a client to `…/None`).
pub(super) struct Link {
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    pub(super) status: &'static str,
    /// Every operation on each of these paths is a target.
    pub(super) to: &'static [&'static str],
    pub(super) params: &'static [(&'static str, &'static str)],
}

const BODY_ID: &[(&str, &str)] = &[("id", "$response.body#/id")];

pub(super) const LINKS: &[Link] = &[
    Link {
        method: "post",
        path: "/api/v1/clients",
        status: "201",
        to: &["/api/v1/clients/{id}"],
        params: BODY_ID,
    },
    Link {
        method: "post",
        path: "/api/v1/personnel",
        status: "201",
        to: &["/api/v1/personnel/{id}"],
        params: BODY_ID,
    },
    Link {
        method: "post",
        path: "/api/v1/users",
        status: "201",
        to: &["/api/v1/users/{id}"],
        params: BODY_ID,
    },
    Link {
        method: "post",
        path: "/api/v1/work-orders",
        status: "201",
        to: &[
            "/api/v1/work-orders/{id}",
            "/api/v1/work-orders/{id}/tasks",
            "/api/v1/work-orders/{id}/files",
        ],
        params: BODY_ID,
    },
    Link {
        method: "post",
        path: "/api/v1/work-orders/{id}/tasks",
        status: "201",
        to: &["/api/v1/work-orders/{id}/tasks/{task_id}"],
        params: &[
            ("id", "$request.path.id"),
            ("task_id", "$response.body#/id"),
        ],
    },
    Link {
        method: "post",
        path: "/api/v1/work-orders/{id}/files",
        status: "201",
        to: &["/api/v1/files/{id}", "/api/v1/files/{id}/content"],
        params: BODY_ID,
    },
    Link {
        method: "post",
        path: "/admin/tenants",
        status: "201",
        to: &[
            "/admin/tenants/{slug}",
            "/admin/tenants/{slug}/stats",
            "/admin/tenants/{slug}/move",
        ],
        params: &[("slug", "$response.body#/slug")],
    },
    Link {
        method: "post",
        path: "/admin/tenants/{slug}/move",
        status: "202",
        to: &["/admin/moves/{id}", "/admin/moves/{id}/cancel"],
        params: BODY_ID,
    },
];

/// Puts [`LINKS`] into the finished document, targets by operation id.
pub(super) fn add_links(v: &mut Value) {
    let op_id = |v: &Value, method: &str, path: &str| {
        v["paths"][path][method]["operationId"]
            .as_str()
            .map(str::to_owned)
    };
    for l in LINKS {
        let mut links = Map::new();
        for to in l.to {
            let Some(item) = v["paths"][*to].as_object() else {
                continue;
            };
            for method in item.keys() {
                let Some(id) = op_id(v, method, to) else {
                    continue;
                };
                let params: Map<String, Value> = l
                    .params
                    .iter()
                    .map(|(k, e)| ((*k).to_owned(), Value::from(*e)))
                    .collect();
                links.insert(
                    id.clone(),
                    json!({ "operationId": id, "parameters": params }),
                );
            }
        }
        let at = format!(
            "/paths/{}/{}/responses/{}",
            l.path.replace('~', "~0").replace('/', "~1"),
            l.method,
            l.status
        );
        if let Some(res) = v.pointer_mut(&at).and_then(Value::as_object_mut) {
            res.insert("links".into(), Value::Object(links));
        }
    }
}
