use super::*;

/// The first slot of each master's range, as `redis-cli --cluster create`
/// assigns them to `masters` masters (its own arithmetic, in `f32`).
fn master_starts(masters: usize) -> Vec<u16> {
    let per_master = f32::from(SLOTS) / masters as f32;
    let mut starts = Vec::with_capacity(masters);
    let (mut first, mut cursor) = (0u16, 0.0f32);
    for i in 0..masters {
        starts.push(first);
        let last = if i == masters - 1 {
            SLOTS - 1
        } else {
            (cursor + per_master - 1.0).round() as u16
        };
        first = last.max(first) + 1;
        cursor += per_master;
    }
    starts
}

fn master_of(starts: &[u16], slot: u16) -> usize {
    starts.iter().rposition(|&start| start <= slot).unwrap()
}

#[test]
fn slots_are_computed_as_redis_does() {
    // From the Redis Cluster specification and `CLUSTER KEYSLOT`.
    assert_eq!(
        crc16::State::<crc16::XMODEM>::calculate(b"123456789"),
        0x31C3
    );
    assert_eq!(slot(b"foo"), 12182);
    assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
    assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
    // An empty tag hashes the whole key; only the first `{…}` counts.
    assert_eq!(
        slot(b"foo{}{bar}"),
        crc16::State::<crc16::XMODEM>::calculate(b"foo{}{bar}") % SLOTS
    );
    assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
    assert_eq!(
        slot(b"no tag {here"),
        crc16::State::<crc16::XMODEM>::calculate(b"no tag {here") % SLOTS
    );
}

#[test]
fn the_redis_cli_layout_is_the_one_the_tags_are_chosen_for() {
    assert_eq!(master_starts(3), [0, 5461, 10923]);
    assert_eq!(master_starts(1), [0]);
}

#[test]
fn each_bucket_tag_lies_in_its_own_range() {
    let buckets: Vec<usize> = (0..BUCKETS)
        .map(|b| bucket_of_slot(slot(bucket_tag(b).as_bytes())))
        .collect();
    assert_eq!(buckets, (0..BUCKETS).collect::<Vec<_>>());
    assert_eq!(bucket_tag(BUCKETS + 5), bucket_tag(5));
}

#[test]
fn every_master_count_dividing_the_buckets_gets_as_many_buckets_each() {
    for masters in [1, 2, 3, 4, 6, 8, 12, 24] {
        let starts = master_starts(masters);
        let mut per_master = vec![0; masters];
        for b in 0..BUCKETS {
            let master = master_of(&starts, slot(bucket_tag(b).as_bytes()));
            // In order: bucket b is on master b × masters / BUCKETS.
            assert_eq!(
                master,
                b * masters / BUCKETS,
                "bucket {b}, {masters} masters"
            );
            per_master[master] += 1;
        }
        assert_eq!(
            per_master,
            vec![BUCKETS / masters; masters],
            "{masters} masters"
        );
    }
}

#[test]
fn keys_used_together_share_a_slot() {
    let keys = Keyspace::new("confab:");
    let user = UserId(7);
    let own = slot(keys.presence(user).as_bytes());
    for key in [
        keys.dedup(user, "c-1"),
        keys.dedup(user, "{weird}"),
        keys.friends(user),
        keys.typing(user, Target::User(UserId(8))),
        keys.typing(user, Target::Group(GroupId(4))),
        keys.presence(UserId(7 + BUCKETS as i64)),
        keys.members(GroupId(7)),
    ] {
        assert_eq!(slot(key.as_bytes()), own, "{key}");
    }
    assert_eq!(bucket_of_slot(own), 7);
    assert_eq!(
        bucket_of_slot(slot(keys.presence(UserId(-1)).as_bytes())),
        23
    );
    assert_eq!(
        slot(keys.nodes().as_bytes()),
        slot(keys.node_users(NodeId(3), 99).as_bytes())
    );
    assert_eq!(
        slot(keys.login_failures("ana").as_bytes()),
        slot(keys.login_wait("ana").as_bytes())
    );
}

#[test]
fn every_key_starts_with_the_prefix_and_says_what_it_holds() {
    let keys = Keyspace::new("confab:");
    let t7 = bucket_tag(7);
    let t4 = bucket_tag(4);
    assert_eq!(
        keys.presence(UserId(7)),
        format!("confab:presence:{{{t7}}}:7")
    );
    assert_eq!(keys.nodes(), "confab:nodes:{registry}");
    assert_eq!(
        keys.node_users(NodeId(3), 99),
        "confab:node_users:{registry}:3:99"
    );
    assert_eq!(
        keys.friends(UserId(7)),
        format!("confab:friends:{{{t7}}}:7")
    );
    assert_eq!(
        keys.members(GroupId(4)),
        format!("confab:members:{{{t4}}}:4")
    );
    assert_eq!(keys.dispatcher_home(2), "confab:dispatcher_home:2");
    assert_eq!(
        keys.dedup(UserId(7), "c-1"),
        format!("confab:dedup:{{{t7}}}:7:c-1")
    );
    assert_eq!(
        keys.typing(UserId(7), Target::User(UserId(8))),
        format!("confab:typing:{{{t7}}}:7:u8")
    );
    assert_eq!(
        keys.typing(UserId(7), Target::Group(GroupId(4))),
        format!("confab:typing:{{{t7}}}:7:g4")
    );
    assert_eq!(keys.ws_ticket("ab12"), "confab:ws_ticket:ab12");
    assert_eq!(
        keys.address_limit("login", "10.0.0.1", 5),
        "confab:limit:login:10.0.0.1:5"
    );
    assert_eq!(keys.login_failures("ana"), "confab:login_failures:{ana}");
    assert_eq!(keys.login_wait("ana"), "confab:login_wait:{ana}");
    assert_eq!(keys.revocations(), "confab:revocations");
}

/// The table in the report and the architecture document: bucket, tag,
/// slot (`cargo nextest run -p confab-common bucket_table --no-capture`).
#[test]
fn bucket_table() {
    for b in 0..BUCKETS {
        let tag = bucket_tag(b);
        println!("| {b} | `{{{tag}}}` | {} |", slot(tag.as_bytes()));
    }
}
