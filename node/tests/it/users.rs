//! Public profiles and the user search.

use crate::helpers::TestApp;

#[tokio::test]
async fn a_profile_is_public_to_any_user() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let profile = app
        .get(&format!("/api/users/{}", alice.id), &bob)
        .await
        .expect(200);
    assert_eq!(profile, app.get("/api/me", &alice).await.expect(200));
    for id in ["0", "-1", "987654321"] {
        app.get(&format!("/api/users/{id}"), &bob)
            .await
            .assert_error(404, "no_such_user");
    }
}

#[tokio::test]
async fn search_matches_username_prefixes_case_insensitively() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for name in ["Alfred", "albert", "bob", "al_x", "alyx"] {
        app.register(name).await;
    }
    let names = |body: serde_json::Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = app.get("/api/users?search=AL", &alice).await.expect(200);
    assert_eq!(names(found), ["al_x", "albert", "Alfred", "alice", "alyx"]);
    // `_` and `%` match themselves, not any character.
    let found = app.get("/api/users?search=al_", &alice).await.expect(200);
    assert_eq!(names(found), ["al_x"]);
    let found = app.get("/api/users?search=%25", &alice).await.expect(200);
    assert!(names(found).is_empty());
    let found = app
        .get("/api/users?search=al&limit=2", &alice)
        .await
        .expect(200);
    assert_eq!(names(found), ["al_x", "albert"]);
}

#[tokio::test]
async fn search_parameters_are_checked() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let long = "a".repeat(33);
    for query in [
        "search=",
        "search=%20%20",
        &format!("search={long}"),
        "search=a&limit=0",
        "search=a&limit=51",
    ] {
        app.get(&format!("/api/users?{query}"), &alice)
            .await
            .assert_error(422, "invalid_search");
    }
}
