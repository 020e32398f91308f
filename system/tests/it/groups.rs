//! Groups: creation, details, roles, membership changes and their rules.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

/// An owner with three friends: `admin` (made admin), `member`, and `other`
/// who is a friend of the owner but not in the group; plus `stranger`.
struct Cast {
    app: TestApp,
    owner: TestUser,
    admin: TestUser,
    member: TestUser,
    other: TestUser,
    stranger: TestUser,
    group: i64,
}

async fn cast() -> Cast {
    let app = TestApp::spawn().await;
    let owner = app.register("owner").await;
    let admin = app.register("admin").await;
    let member = app.register("member").await;
    let other = app.register("other").await;
    let stranger = app.register("stranger").await;
    for friend in [&admin, &member, &other] {
        app.befriend(&owner, friend).await;
    }
    let group = app
        .create_group(&owner, "Tea party", &[&admin, &member])
        .await;
    app.patch(
        &format!("/api/groups/{group}/members/{}", admin.id),
        &owner,
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    Cast {
        app,
        owner,
        admin,
        member,
        other,
        stranger,
        group,
    }
}

fn roles(group: &Value) -> Vec<(String, String)> {
    group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["username"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_group_is_created_with_the_creator_as_owner() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.befriend(&alice, &bob).await;
    app.set_online(&bob).await;
    let group = app
        .post(
            "/api/groups",
            &alice,
            json!({"name": " Book club ", "member_ids": [bob.id.0, bob.id.0, alice.id.0]}),
        )
        .await
        .expect(201);
    assert_eq!(group["name"], "Book club");
    assert_eq!(group["owner_id"], alice.id.0);
    assert!(group["created_at"].is_i64());
    assert_eq!(
        roles(&group),
        pairs(&[("alice", "owner"), ("bob", "member")])
    );
    assert_eq!(group["members"][0]["online"], false);
    assert_eq!(group["members"][1]["online"], true);
    assert_eq!(group["members"][1]["user"]["display_name"], "bob");

    let id = group["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/groups/{id}"), &bob)
            .await
            .expect(200),
        group
    );
    let list = app.get("/api/groups", &bob).await.expect(200);
    assert_eq!(
        list,
        json!([{"id": id, "name": "Book club", "owner_id": alice.id.0, "created_at": group["created_at"],
                "role": "member", "member_count": 2}])
    );
}

#[tokio::test]
async fn only_friends_can_be_put_in_a_group() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    app.befriend(&alice, &bob).await;
    app.post(
        "/api/groups",
        &alice,
        json!({"name": "g", "member_ids": [bob.id.0, eve.id.0]}),
    )
    .await
    .assert_error(403, "not_friends");
    app.post(
        "/api/groups",
        &alice,
        json!({"name": "g", "member_ids": [987654]}),
    )
    .await
    .assert_error(403, "not_friends");
    for name in ["", "   ", &"n".repeat(65)] {
        app.post(
            "/api/groups",
            &alice,
            json!({"name": name, "member_ids": [bob.id.0]}),
        )
        .await
        .assert_error(422, "invalid_name");
    }
    assert_eq!(app.count("SELECT count(*) FROM groups").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM group_members").await, 0);
    // A group of one is fine.
    app.post("/api/groups", &alice, json!({"name": "just me"}))
        .await
        .expect(201);
}

#[tokio::test]
async fn outsiders_cannot_read_or_change_a_group() {
    let c = cast().await;
    let g = c.group;
    let app = &c.app;
    app.get(&format!("/api/groups/{g}"), &c.stranger)
        .await
        .assert_error(403, "not_member");
    app.patch(
        &format!("/api/groups/{g}"),
        &c.stranger,
        json!({"name": "mine"}),
    )
    .await
    .assert_error(403, "not_member");
    app.post(
        &format!("/api/groups/{g}/members"),
        &c.stranger,
        json!({"user_ids": [c.stranger.id.0]}),
    )
    .await
    .assert_error(403, "not_member");
    app.delete(
        &format!("/api/groups/{g}/members/{}", c.member.id),
        &c.stranger,
    )
    .await
    .assert_error(403, "not_member");
    app.delete(&format!("/api/groups/{g}"), &c.stranger)
        .await
        .assert_error(403, "not_member");
    assert_eq!(
        app.get("/api/groups", &c.stranger).await.expect(200),
        json!([])
    );
    for path in [
        "/api/groups/987654".to_owned(),
        "/api/groups/987654/members/1".to_owned(),
    ] {
        let reply = if path.ends_with("/1") {
            app.delete(&path, &c.owner).await
        } else {
            app.get(&path, &c.owner).await
        };
        reply.assert_error(404, "no_such_group");
    }
    assert_eq!(app.count("SELECT count(*) FROM group_members").await, 3);
}

#[tokio::test]
async fn the_owner_and_admins_rename_members_do_not() {
    let c = cast().await;
    let g = c.group;
    let renamed = c
        .app
        .patch(
            &format!("/api/groups/{g}"),
            &c.admin,
            json!({"name": "Mad tea party"}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Mad tea party");
    c.app
        .patch(
            &format!("/api/groups/{g}"),
            &c.owner,
            json!({"name": "Tea"}),
        )
        .await
        .expect(200);
    c.app
        .patch(
            &format!("/api/groups/{g}"),
            &c.member,
            json!({"name": "Mine"}),
        )
        .await
        .assert_error(403, "insufficient_role");
    c.app
        .patch(&format!("/api/groups/{g}"), &c.owner, json!({"name": ""}))
        .await
        .assert_error(422, "invalid_name");
    assert_eq!(
        c.app
            .get(&format!("/api/groups/{g}"), &c.member)
            .await
            .expect(200)["name"],
        "Tea"
    );
}

#[tokio::test]
async fn members_add_their_own_friends_only() {
    let c = cast().await;
    let g = c.group;
    let app = &c.app;
    // `member` is not friends with `other`.
    app.post(
        &format!("/api/groups/{g}/members"),
        &c.member,
        json!({"user_ids": [c.other.id.0]}),
    )
    .await
    .assert_error(403, "not_friends");
    app.befriend(&c.member, &c.other).await;
    let group = app
        .post(
            &format!("/api/groups/{g}/members"),
            &c.member,
            json!({"user_ids": [c.other.id.0, c.owner.id.0]}),
        )
        .await
        .expect(200);
    assert_eq!(
        roles(&group),
        pairs(&[
            ("owner", "owner"),
            ("admin", "admin"),
            ("member", "member"),
            ("other", "member")
        ])
    );
    // Adding someone twice is harmless.
    app.post(
        &format!("/api/groups/{g}/members"),
        &c.owner,
        json!({"user_ids": [c.other.id.0]}),
    )
    .await
    .expect(200);
    assert_eq!(app.count("SELECT count(*) FROM group_members").await, 4);
}

#[tokio::test]
async fn who_may_remove_whom() {
    let c = cast().await;
    let g = c.group;
    let app = &c.app;
    let path = |user: &TestUser| format!("/api/groups/{g}/members/{}", user.id);
    // An admin cannot remove the owner, nor another admin.
    app.delete(&path(&c.owner), &c.admin)
        .await
        .assert_error(403, "insufficient_role");
    app.befriend(&c.admin, &c.other).await;
    app.post(
        &format!("/api/groups/{g}/members"),
        &c.admin,
        json!({"user_ids": [c.other.id.0]}),
    )
    .await
    .expect(200);
    app.patch(&path(&c.other), &c.owner, json!({"role": "admin"}))
        .await
        .expect(200);
    app.delete(&path(&c.other), &c.admin)
        .await
        .assert_error(403, "insufficient_role");
    // A plain member removes nobody else.
    app.delete(&path(&c.admin), &c.member)
        .await
        .assert_error(403, "insufficient_role");
    // The owner cannot leave without handing over.
    app.delete(&path(&c.owner), &c.owner)
        .await
        .assert_error(409, "owner_must_transfer");
    app.delete(&path(&c.stranger), &c.owner)
        .await
        .assert_error(404, "no_such_member");
    assert_eq!(app.count("SELECT count(*) FROM group_members").await, 4);

    // What is allowed: an admin removes a member, the owner removes an admin,
    // anyone leaves.
    assert_eq!(
        app.delete(&path(&c.member), &c.admin).await.status.as_u16(),
        204
    );
    assert_eq!(
        app.delete(&path(&c.other), &c.owner).await.status.as_u16(),
        204
    );
    assert_eq!(
        app.delete(&path(&c.admin), &c.admin).await.status.as_u16(),
        204
    );
    app.get(&format!("/api/groups/{g}"), &c.admin)
        .await
        .assert_error(403, "not_member");
    let group = app
        .get(&format!("/api/groups/{g}"), &c.owner)
        .await
        .expect(200);
    assert_eq!(roles(&group), pairs(&[("owner", "owner")]));
}

#[tokio::test]
async fn only_the_owner_changes_roles_and_hands_over_ownership() {
    let c = cast().await;
    let g = c.group;
    let app = &c.app;
    let path = |user: &TestUser| format!("/api/groups/{g}/members/{}", user.id);
    app.patch(&path(&c.member), &c.admin, json!({"role": "admin"}))
        .await
        .assert_error(403, "insufficient_role");
    app.patch(&path(&c.member), &c.member, json!({"role": "owner"}))
        .await
        .assert_error(403, "insufficient_role");
    app.patch(&path(&c.owner), &c.owner, json!({"role": "member"}))
        .await
        .assert_error(409, "owner_must_transfer");
    app.patch(&path(&c.stranger), &c.owner, json!({"role": "admin"}))
        .await
        .assert_error(404, "no_such_member");
    app.patch(&path(&c.member), &c.owner, json!({"role": "boss"}))
        .await
        .assert_error(422, "invalid_field");

    let group = app
        .patch(&path(&c.member), &c.owner, json!({"role": "owner"}))
        .await
        .expect(200);
    assert_eq!(group["owner_id"], c.member.id.0);
    assert_eq!(
        roles(&group),
        pairs(&[("member", "owner"), ("admin", "admin"), ("owner", "admin")])
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM group_members WHERE group_id = {g} AND role = 'owner'"
        ))
        .await,
        1
    );
    // The old owner may now leave; the new one may not.
    assert_eq!(
        app.delete(&path(&c.owner), &c.owner).await.status.as_u16(),
        204
    );
    app.delete(&path(&c.member), &c.member)
        .await
        .assert_error(409, "owner_must_transfer");
}

#[tokio::test]
async fn only_the_owner_disbands() {
    let c = cast().await;
    let g = c.group;
    for who in [&c.admin, &c.member] {
        c.app
            .delete(&format!("/api/groups/{g}"), who)
            .await
            .assert_error(403, "insufficient_role");
    }
    assert_eq!(
        c.app
            .delete(&format!("/api/groups/{g}"), &c.owner)
            .await
            .status
            .as_u16(),
        204
    );
    c.app
        .get(&format!("/api/groups/{g}"), &c.owner)
        .await
        .assert_error(404, "no_such_group");
    assert_eq!(c.app.count("SELECT count(*) FROM group_members").await, 0);
}

#[tokio::test]
async fn groups_have_a_size_limit() {
    let app = TestApp::spawn_with(&["--max-group-members", "3"]).await;
    let owner = app.register("owner").await;
    let mut friends = Vec::new();
    for name in ["fr1", "fr2", "fr3"] {
        let friend = app.register(name).await;
        app.befriend(&owner, &friend).await;
        friends.push(friend);
    }
    let ids: Vec<i64> = friends.iter().map(|f| f.id.0).collect();
    app.post(
        "/api/groups",
        &owner,
        json!({"name": "big", "member_ids": ids}),
    )
    .await
    .assert_error(422, "group_full");
    let g = app
        .create_group(&owner, "small", &[&friends[0], &friends[1]])
        .await;
    app.post(
        &format!("/api/groups/{g}/members"),
        &owner,
        json!({"user_ids": [friends[2].id.0]}),
    )
    .await
    .assert_error(422, "group_full");
    assert_eq!(app.count("SELECT count(*) FROM group_members").await, 3);
}
