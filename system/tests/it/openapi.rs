//! The OpenAPI document against the contract and against the real router.

use reqwest::Method;

use crate::helpers::TestApp;

/// Every REST route of the public contract (v1).
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/logout-all"),
    ("post", "/api/auth/ws-ticket"),
    ("get", "/api/me"),
    ("patch", "/api/me"),
    ("delete", "/api/me"),
    ("post", "/api/me/password"),
    ("get", "/api/users/{id}"),
    ("get", "/api/users"),
    ("post", "/api/friends/requests"),
    ("get", "/api/friends/requests"),
    ("post", "/api/friends/requests/{id}/accept"),
    ("post", "/api/friends/requests/{id}/decline"),
    ("get", "/api/friends"),
    ("delete", "/api/friends/{user_id}"),
    ("post", "/api/groups"),
    ("get", "/api/groups"),
    ("get", "/api/groups/{id}"),
    ("patch", "/api/groups/{id}"),
    ("post", "/api/groups/{id}/members"),
    ("delete", "/api/groups/{id}/members/{user_id}"),
    ("patch", "/api/groups/{id}/members/{user_id}"),
    ("delete", "/api/groups/{id}"),
    ("get", "/api/conversations"),
    ("get", "/api/conversations/user/{id}/messages"),
    ("get", "/api/conversations/group/{id}/messages"),
    ("get", "/api/limits"),
];

#[tokio::test]
async fn the_document_lists_exactly_the_contracts_routes() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "patch", "put", "delete"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut contract: Vec<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    contract.sort();
    assert_eq!(documented, contract);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn every_documented_route_is_served_by_the_router() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(200);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path.replace("{id}", "1").replace("{user_id}", "1");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let needs_body = ["POST", "PATCH"].contains(&method.as_str());
            let reply = app
                .call(
                    method.clone(),
                    &concrete,
                    None,
                    needs_body.then(|| serde_json::json!({})),
                )
                .await;
            assert!(
                !matches!(reply.code(), "not_found" | "method_not_allowed"),
                "{method} {path} is documented but not routed: {:?}",
                reply
            );
            // Routes that declare a bearer requirement refuse anonymous callers.
            if operation.get("security").is_some() {
                reply.assert_error(401, "missing_token");
            }
        }
    }
}

#[tokio::test]
async fn every_operation_lists_the_generic_answers_its_shape_implies() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(200);
    let responses = &doc["components"]["responses"];
    for name in ["RateLimited", "Unavailable"] {
        assert!(
            responses[name]["headers"]["Retry-After"].is_object(),
            "{name}: {}",
            responses[name]
        );
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let listed = operation["responses"].as_object().unwrap();
            let mut expected = vec!["429", "500", "503"];
            if operation["requestBody"].is_object() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if path.contains('{') {
                expected.extend(["400", "404"]);
            }
            if operation.get("security").is_some() {
                expected.push("401");
                // The token's 401 is described once, as a shared response.
                assert_eq!(
                    operation["responses"]["401"]["$ref"], "#/components/responses/Unauthorized",
                    "{method} {path}"
                );
            }
            for status in expected {
                let answer = &listed[status];
                assert!(answer.is_object(), "{method} {path} does not list {status}");
                // Every error answer has the error body.
                let described = answer.get("$ref").is_some()
                    || answer["content"]["application/json"]["schema"]["$ref"]
                        == "#/components/schemas/ErrorBody";
                assert!(described, "{method} {path} {status}: {answer}");
            }
        }
    }
}
