//! The OpenAPI 3.1 document of the JSON API, built from [`super::ENDPOINTS`] and the
//! schemas derived from the types the routes read and write ([`super::schemas`]).

use super::*;

pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Answers that name a resource other operations take as their `id` (where in the answer
/// the id is, and the operations): a client, or a tool that follows links, goes from a
/// placed call to reading, transferring and hanging it up, and from a created campaign to
/// everything done with it.
pub(super) const LINKS: &[(&str, &str, &[&str])] = &[
    (
        "post_calls",
        "$response.body#/id",
        &[
            "get_calls_id",
            "post_calls_id_transfer",
            "post_calls_id_hangup",
        ],
    ),
    (
        "post_campaigns",
        "$response.body#/summary/id",
        &[
            "get_campaigns_id",
            "put_campaigns_id",
            "post_campaigns_id_start",
            "post_campaigns_id_pause",
            "post_campaigns_id_resume",
            "post_campaigns_id_cancel",
            "post_campaigns_id_contacts",
            "get_campaigns_id_contacts",
            "get_campaigns_id_results_csv",
        ],
    ),
    (
        "post_webhook_endpoints",
        "$response.body#/id",
        &[
            "get_webhook_endpoints_id",
            "patch_webhook_endpoints_id",
            "get_webhook_endpoints_id_deliveries",
            "post_webhook_endpoints_id_rotate_secret",
            "delete_webhook_endpoints_id",
        ],
    ),
];

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for endpoint in ENDPOINTS {
        let mut responses = serde_json::Map::new();
        // A `.csv` route answers CSV; every other one JSON.
        let content_type = if endpoint.path.ends_with(".csv") {
            "text/csv"
        } else {
            "application/json"
        };
        responses.insert(
            "200".into(),
            json!({
                "description": "Success",
                "content": { content_type: { "schema": (endpoint.response)() } }
            }),
        );
        if let Some((_, id, targets)) = LINKS
            .iter()
            .find(|(from, ..)| *from == operation_id(endpoint))
        {
            let links: serde_json::Map<String, Value> = targets
                .iter()
                .map(|target| {
                    (
                        target.to_string(),
                        json!({ "operationId": target, "parameters": { "id": id } }),
                    )
                })
                .collect();
            responses["200"]["links"] = Value::Object(links);
        }
        if endpoint.auth {
            responses.insert(
                "401".into(),
                json!({ "$ref": "#/components/responses/Unauthorized" }),
            );
        }
        for (status, description) in endpoint.errors {
            responses.insert(
                status.to_string(),
                json!({
                    "description": description,
                    "content": { "application/json": { "schema": schema_ref("Error") } }
                }),
            );
        }
        responses.insert(
            "default".into(),
            json!({ "$ref": "#/components/responses/Error" }),
        );
        let mut operation = json!({
            "summary": endpoint.summary,
            "operationId": operation_id(endpoint),
            "responses": responses,
        });
        if !endpoint.auth {
            operation["security"] = json!([]);
        }
        if let Some(request) = endpoint.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": request() } }
            });
        }
        let parameters: Vec<Value> = path_parameters(endpoint.path)
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
            })
            .chain(endpoint.query.iter().map(|param| {
                json!({
                    "name": param.name,
                    "in": "query",
                    "required": false,
                    "description": param.description,
                    "schema": param.kind.schema(),
                })
            }))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        let item = paths
            .entry(endpoint.full_path())
            .or_insert_with(|| json!({}));
        item[endpoint.method.as_str().to_ascii_lowercase()] = operation;
    }
    let schemas = schemas();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dial API",
            "version": "1",
            "description": "Place and control calls through Dial. Authenticate with an API key \
                from Settings → API keys: `Authorization: Bearer dial_…`. A key acts as the \
                user who created it, with that user's rights."
        },
        "paths": paths,
        "security": [{ "apiKey": [] }],
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Dial API key (`dial_` and 40 letters and digits)."
                }
            },
            "schemas": schemas,
            "responses": {
                "Unauthorized": {
                    "description": "The API key is missing, unknown or revoked, or its user is disabled.",
                    "content": { "application/json": { "schema": schema_ref("Error") } }
                },
                "Error": {
                    "description": "An error, with a stable code.",
                    "content": { "application/json": { "schema": schema_ref("Error") } }
                }
            }
        }
    })
}

pub(super) fn operation_id(endpoint: &Endpoint) -> String {
    let words: Vec<String> = endpoint
        .path
        .split(['/', '.', '-', '{', '}'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    format!(
        "{}_{}",
        endpoint.method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

pub(super) fn path_parameters(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}
