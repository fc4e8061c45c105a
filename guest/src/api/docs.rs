//! `/openapi.json` and `/docs`: the API description and a page rendering it.
//!
//! The page is rendered here, from the same document, so it needs no script
//! and no CDN.

use serde_json::Value;

use super::html::escape;
use crate::http::Response;

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn openapi() -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: OPENAPI.as_bytes().to_vec(),
    }
}

pub fn page() -> Response {
    // The document is a compile-time constant checked by a test, so parsing
    // cannot fail at run time; fall back to an empty document regardless.
    let spec: Value = serde_json::from_str(OPENAPI).unwrap_or(Value::Null);
    Response::html(200, render(&spec))
}

fn render(spec: &Value) -> String {
    let title = escape(spec["info"]["title"].as_str().unwrap_or("API"));
    let version = escape(spec["info"]["version"].as_str().unwrap_or(""));
    let description = escape(spec["info"]["description"].as_str().unwrap_or(""));
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} API</title><style>{STYLE}</style></head><body>\
         <h1>{title} <small>{version}</small></h1><p>{description}</p>\
         <p><a href=\"/openapi.json\">openapi.json</a></p>"
    );
    if let Some(paths) = spec["paths"].as_object() {
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().into_iter().flatten() {
                html.push_str(&render_operation(path, method, operation));
            }
        }
    }
    if let Some(schemas) = spec["components"]["schemas"].as_object() {
        html.push_str("<h2>Schemas</h2>");
        for (name, schema) in schemas {
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            html.push_str(&format!(
                "<section id=\"schema-{name}\"><h3>{name}</h3><pre>{}</pre></section>",
                escape(&pretty),
                name = escape(name)
            ));
        }
    }
    html.push_str("</body></html>");
    html
}

fn render_operation(path: &str, method: &str, operation: &Value) -> String {
    let mut html = format!(
        "<section class=\"op\"><h2><span class=\"method {m}\">{M}</span> <code>{path}</code></h2>\
         <p><strong>{summary}</strong></p><p>{description}</p><table><tr><th>Status</th><th>Meaning</th></tr>",
        m = escape(method),
        M = escape(&method.to_ascii_uppercase()),
        path = escape(path),
        summary = escape(operation["summary"].as_str().unwrap_or("")),
        description = escape(operation["description"].as_str().unwrap_or("")),
    );
    for (status, response) in operation["responses"].as_object().into_iter().flatten() {
        let meaning = match response["$ref"].as_str() {
            Some(reference) => reference
                .rsplit('/')
                .next()
                .unwrap_or(reference)
                .to_string(),
            None => response["description"].as_str().unwrap_or("").to_string(),
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(status),
            escape(&meaning)
        ));
    }
    html.push_str("</table></section>");
    html
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
.op{border:1px solid #ccc;border-radius:6px;padding:0 1rem;margin:1rem 0}\
.method{font-family:monospace;padding:2px 6px;border-radius:4px;color:#fff;background:#555}\
.get{background:#2b7de9}.post{background:#2a9d50}table{border-collapse:collapse}\
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}pre{background:#f5f5f5;padding:8px;overflow:auto}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ROUTES;
    use crate::api::tests::call;

    fn spec() -> Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON")
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_exists() {
        let spec = spec();
        assert_eq!(spec["openapi"], "3.1.0");
        for route in ROUTES {
            let operation = &spec["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(
                operation.is_object(),
                "{} {} undocumented",
                route.method,
                route.path
            );
        }
        for (path, operations) in spec["paths"].as_object().unwrap() {
            for method in operations.as_object().unwrap().keys() {
                assert!(
                    ROUTES
                        .iter()
                        .any(|r| r.path == path && r.method.eq_ignore_ascii_case(method)),
                    "{method} {path} documented but not routed"
                );
            }
        }
    }

    #[test]
    fn every_error_code_is_documented() {
        let spec = spec();
        let documented =
            &spec["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"];
        let codes: Vec<&str> = crate::api::ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(documented, &serde_json::json!(codes));
    }

    #[test]
    fn every_reference_resolves() {
        let text = OPENAPI;
        let spec = spec();
        for reference in text.split("\"$ref\": \"#/").skip(1) {
            let pointer = reference.split('"').next().unwrap();
            assert!(
                spec.pointer(&format!("/{pointer}")).is_some(),
                "dangling $ref {pointer}"
            );
        }
    }

    #[test]
    fn docs_page_is_self_contained_and_lists_every_route() {
        let (response, _) = call("GET", "/docs");
        assert_eq!(response.status, 200);
        let page = String::from_utf8(response.body).unwrap();
        assert!(!page.contains("<script src"));
        assert!(!page.contains("https://"));
        for route in ROUTES {
            assert!(page.contains(&format!("<code>{}</code>", route.path)));
        }
    }
}
