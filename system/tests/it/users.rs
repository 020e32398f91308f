//! Public profiles and the user search: username prefixes, display-name
//! word prefixes (case- and accent-insensitive), pages, and a query that
//! is only ever text.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

/// The usernames of a search answer, in order.
fn names(body: Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

/// Registers `username` and gives them `display_name`.
async fn person(app: &TestApp, username: &str, display_name: &str) -> TestUser {
    let user = app.register(username).await;
    app.patch("/api/me", &user, json!({ "display_name": display_name }))
        .await
        .expect(200);
    user
}

/// The usernames `GET /api/users` finds for `search` (any text: it is
/// percent-encoded here) and extra query parameters.
async fn search(app: &TestApp, caller: &TestUser, search: &str, extra: &str) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(search.as_bytes()).collect();
    let body = app
        .get(&format!("/api/users?search={encoded}{extra}"), caller)
        .await
        .expect(200);
    names(body)
}

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
    // Display names that match nothing here, to see the usernames alone.
    let alice = person(&app, "alice", "Someone").await;
    for name in ["Alfred", "albert", "bob", "al_x", "alyx"] {
        person(&app, name, "Someone").await;
    }
    let found = app.get("/api/users?search=AL", &alice).await.expect(200);
    assert_eq!(names(found), ["al_x", "albert", "Alfred", "alice", "alyx"]);
    // A leading `@` is how people write usernames: it is ignored.
    let found = app
        .get("/api/users?search=%40Alf", &alice)
        .await
        .expect(200);
    assert_eq!(names(found), ["Alfred"]);
    // `_` and `%` match themselves, not any character (the words of display
    // names ignore punctuation: "al_" is the word "al" there).
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
        "search=%00",
        "search=%40",
        "search=%20%40%20",
        &format!("search=%40{long}"),
        "search=a&after=",
        &format!("search=a&after={long}"),
        "search=a&after=al%00",
    ] {
        app.get(&format!("/api/users?{query}"), &alice)
            .await
            .assert_error(422, "invalid_search");
    }
    for query in ["limit=5", "search=a&limit=abc", "search=a&limit=-1"] {
        app.get(&format!("/api/users?{query}"), &alice)
            .await
            .assert_error(400, "invalid_query");
    }
    // 32 characters, a leading `@` not counted, and an `after` of 32.
    let longest = "é".repeat(32);
    assert!(
        search(&app, &alice, &format!(" @{longest} "), "")
            .await
            .is_empty()
    );
    let after = "z".repeat(32);
    assert!(
        search(&app, &alice, "a", &format!("&after={after}"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn search_finds_display_name_words_by_prefix_regardless_of_case_and_accents() {
    let app = TestApp::spawn().await;
    let me = app.register("caller").await;
    person(&app, "usr1", "Ben Okafor").await;
    person(&app, "usr2", "José Álvarez").await;
    person(&app, "usr3", "Jose Ng").await;
    person(&app, "usr4", "Benedict Okafor-Smith").await;
    for (query, expected) in [
        ("Ben", vec!["usr1", "usr4"]),
        ("ben ok", vec!["usr1", "usr4"]),
        ("Okafor", vec!["usr1", "usr4"]),
        ("okaf", vec!["usr1", "usr4"]),
        ("BEN OKAFOR", vec!["usr1", "usr4"]),
        // Word order does not matter; every word must match (AND).
        ("okafor ben", vec!["usr1", "usr4"]),
        ("ben smith", vec!["usr4"]),
        ("ben zzz", vec![]),
        // A word matches from its start only.
        ("kafor", vec![]),
        ("fo", vec![]),
        // Accents, both ways.
        ("jose", vec!["usr2", "usr3"]),
        ("José", vec!["usr2", "usr3"]),
        ("JOSÉ ÁLV", vec!["usr2"]),
        ("alv", vec!["usr2"]),
        ("Álvarez", vec!["usr2"]),
        ("ng jose", vec!["usr3"]),
        // The username prefix still matches too.
        ("USR", vec!["usr1", "usr2", "usr3", "usr4"]),
        ("@usr2", vec!["usr2"]),
    ] {
        assert_eq!(search(&app, &me, query, "").await, expected, "{query:?}");
    }
}

#[tokio::test]
async fn deleted_accounts_are_not_found() {
    let app = TestApp::spawn().await;
    let me = app.register("caller").await;
    let carol = person(&app, "carol", "Carol Danvers").await;
    assert_eq!(search(&app, &me, "danv", "").await, ["carol"]);
    app.call(
        Method::DELETE,
        "/api/me",
        Some(&carol.token),
        Some(json!({"password": "password123"})),
    )
    .await
    .expect(204);
    for query in ["carol", "danv", "deleted", "Deleted account"] {
        assert!(search(&app, &me, query, "").await.is_empty(), "{query:?}");
    }
}

#[tokio::test]
async fn query_syntax_characters_are_only_text() {
    let app = TestApp::spawn().await;
    let me = app.register("caller").await;
    person(&app, "usr1", "Ben Okafor").await;
    person(&app, "usr2", "Zed Zimmer").await;
    // The words around the characters are still searched, all of them.
    for query in [
        "ben'",
        "'ben",
        "ben & okafor",
        "!okafor",
        "ben:*",
        "(ben",
        "ben)",
        "ben\\",
        "\\ben",
        "ben%",
        "ben_",
        "\"ben\"",
        "ben' | 'zed",
        "ben | zed",
        "ben & !zed",
    ] {
        let expected: &[&str] = if query.contains("zed") {
            &[]
        } else {
            &["usr1"]
        };
        assert_eq!(search(&app, &me, query, "").await, expected, "{query:?}");
    }
    // Nothing but syntax finds nobody, rather than everybody or an error.
    for query in [
        "'",
        "&",
        "|",
        "!",
        ":*",
        "(",
        ")",
        "\\",
        "%",
        "_",
        "''",
        "\\'",
        "' | '",
        "*",
        "x.com/a'b\\c",
    ] {
        assert!(search(&app, &me, query, "").await.is_empty(), "{query:?}");
    }
}

#[tokio::test]
async fn pages_with_after_are_complete_and_without_repeats() {
    let app = TestApp::spawn().await;
    let me = app.register("caller").await;
    let usernames = [
        "Zed", "amy", "Bob_1", "bob-2", "carl", "DAVE", "eve.x", "_uu", "0xx",
    ];
    for name in usernames {
        person(&app, name, &format!("Crew {name}")).await;
    }
    let all = search(&app, &me, "crew", "&limit=50").await;
    // Lowercased username, byte order: `-` < `.` < digits < `_` < letters.
    let mut expected: Vec<String> = usernames.iter().map(|u| u.to_string()).collect();
    expected.sort_by_key(|u| u.to_lowercase());
    assert_eq!(all, expected);
    let mut paged: Vec<String> = Vec::new();
    let mut extra = "&limit=2".to_owned();
    loop {
        let page = search(&app, &me, "crew", &extra).await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        // `after` is case-insensitive.
        extra = format!("&limit=2&after={}", last.to_uppercase());
        paged.extend(page);
    }
    assert_eq!(paged, all);
    // A name that is no username works as a bound too.
    assert_eq!(
        search(&app, &me, "crew", "&after=c").await,
        ["carl", "DAVE", "eve.x", "Zed"]
    );
}

#[tokio::test]
async fn the_display_name_search_can_use_its_index() {
    use confab_node::store::users::SEARCH_SQL;
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    let app = TestApp::spawn().await;
    // One transaction: one connection, and the setting ends with it.
    let txn = app.db.begin().await.unwrap();
    // A table this small is cheaper to read whole; forbid that to see
    // whether the index can serve the query at all.
    txn.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .unwrap();
    let plan = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("EXPLAIN {SEARCH_SQL}"),
            ["ben ok".into(), "ben ok%".into(), "".into(), 20i64.into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    txn.rollback().await.unwrap();
    assert!(plan.contains("users_display_name_search"), "{plan}");
}
