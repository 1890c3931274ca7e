//! Deterministic scenario tests of the world engine: sessions, frames and a fake clock in,
//! frames, media commands and records out, checked against what the original client expects
//! (docs/protocol.md) and its rules.

mod common;

use common::*;
use crowdwire_world::engine::{
    FULL_REASON, Input, MediaCommand, MediaRole, MoveBatch, Output, REPLACED_REASON, Record, Restored, SessionId,
};
use crowdwire_world::protocol::{ClientMessage, Position};
use serde_json::{Value, json};
use std::collections::HashMap;

fn at(x: f64, y: f64) -> Position {
    Position { x, y }
}

fn chat(text: &str, to: &str) -> Value {
    json!({"topic": "SEND_MESSAGE", "text": text, "to": to})
}

fn join_conference(id: &str) -> Value {
    json!({"topic": "JOIN_CONFERENCE", "conference_id": id})
}

fn joins(media: &[MediaCommand]) -> Vec<(String, String, MediaRole)> {
    media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Join { room, peer, role } => Some((room.clone(), peer.clone(), *role)),
            _ => None,
        })
        .collect()
}

fn sorted(mut v: Vec<(String, String, MediaRole)>) -> Vec<(String, String, MediaRole)> {
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

fn events(records: &[Record]) -> Vec<(i64, &'static str)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event { member_id, kind } => Some((*member_id, *kind)),
            _ => None,
        })
        .collect()
}

/// Users 1 and 2 standing 100 px apart in the open part of the small map, in one group.
fn pair() -> (World, String) {
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 700.0, 600.0);
    let g = w.group_of("1").expect("1 and 2 are grouped");
    w.clear();
    (w, g)
}

/// Users 1, 2, 3 in a row 100 px apart, in one group; user 4 far away.
fn trio_and_a_stranger() -> (World, String) {
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 700.0, 600.0);
    w.join(3, member(3), 800.0, 600.0);
    w.join(4, member(4), 200.0, 1100.0);
    let g = w.group_of("1").expect("grouped");
    assert_eq!(w.group_of("3").as_ref(), Some(&g));
    assert_eq!(w.group_of("4"), None);
    w.clear();
    (w, g)
}

// ----- presence -----

#[test]
fn connect_sends_a_players_snapshot_of_everyone_else() {
    let mut w = World::small();
    w.connect(1, member(1));
    assert_eq!(
        w.take(1),
        vec![json!({"topic": "PLAYERS_SNAPSHOT", "snapshot": {}, "players_data": {}})]
    );
    w.frame(1, json!({"topic": "JOIN_PLAYER", "position": {"x": 600, "y": 600}}));
    w.connect(2, guest("ann"));
    assert_eq!(
        w.take(2),
        vec![json!({
            "topic": "PLAYERS_SNAPSHOT",
            "snapshot": {"1": {"x": 600.0, "y": 600.0}},
            "players_data": {"1": {"username": "user1", "avatar": "avatar1", "role": {"role_id": 1, "name": "Member"}}},
        })]
    );
    // Not spawned yet: its position is `{}`.
    w.connect(3, member(3));
    let snap = w.take(3);
    assert_eq!(snap[0]["snapshot"]["guest-ann"], json!({}));
    assert_eq!(snap[0]["players_data"]["guest-ann"]["username"], "ann");
    assert_eq!(snap[0]["snapshot"]["1"], json!({"x": 600.0, "y": 600.0}));
    assert!(
        w.take(1).is_empty(),
        "connecting alone announces nothing; JOIN_PLAYER does"
    );
}

#[test]
fn join_player_is_broadcast_world_wide_but_not_to_the_joiner() {
    let mut w = World::small_with(|c| c.interest_area = (400.0, 400.0));
    w.join(1, member(1), 100.0, 100.0);
    w.connect(2, member(2));
    w.clear();
    w.frame(2, json!({"topic": "JOIN_PLAYER", "position": {"x": 1800, "y": 1200}}));
    assert_eq!(
        w.take(1),
        vec![json!({
            "topic": "JOIN_PLAYER",
            "user": {"username": "user2", "avatar": "avatar1", "role": {"role_id": 1, "name": "Member"}, "user_id": "2"},
            "position": {"x": 1800.0, "y": 1200.0},
        })]
    );
    assert!(w.take_topics(2, &["JOIN_PLAYER"]).is_empty());
    // Without a position (or outside the map) the spawn point is the default (50, 50).
    w.join(3, member(3), -40.0, 99_999.0);
    assert_eq!(w.engine.position_of("3"), Some(at(50.0, 50.0)));
    w.connect(4, member(4));
    w.frame(4, json!({"topic": "JOIN_PLAYER"}));
    assert_eq!(w.engine.position_of("4"), Some(at(50.0, 50.0)));
}

// ----- interest management -----

#[test]
fn movement_reaches_only_users_whose_area_of_interest_contains_the_mover() {
    let mut w = World::small_with(|c| c.interest_area = (400.0, 400.0));
    w.join(1, member(1), 500.0, 500.0);
    w.join(2, member(2), 700.0, 500.0); // 180 px from 1's next step: in view
    w.join(3, member(3), 1500.0, 1100.0); // far
    w.clear();
    let out = w.frame(
        1,
        json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 520, "y": 500}, "velocity": {"x": 200, "y": 0}}),
    );
    // The position update carries its mover as the coalescing key.
    let coalesce: Vec<Option<u32>> = out
        .iter()
        .flat_map(|o| match o {
            Output::Send { frame, .. } | Output::Fanout { frame, .. } => vec![frame.coalesce],
            Output::Moves(b) => b.frames.iter().map(|f| f.coalesce).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(coalesce, vec![w.engine.slot_of("1")]);
    assert_eq!(
        w.take(2),
        vec![
            json!({"topic": "PLAYER_MOVEMENT", "user_id": "1", "velocity": {"x": 200.0, "y": 0.0}, "position": {"x": 520.0, "y": 500.0}})
        ]
    );
    assert!(w.take(3).is_empty(), "a user out of view hears nothing");
    assert!(w.take(1).is_empty(), "the mover is not echoed");
}

#[test]
fn users_coming_into_view_learn_each_others_positions() {
    // Views of 600 × 600 px: users see each other within 300 px on each axis.
    let mut w = World::small_with(|c| c.interest_area = (600.0, 600.0));
    w.join(1, member(1), 500.0, 500.0);
    w.join(2, member(2), 1010.0, 500.0);
    w.clear();
    // 320 px apart: still out of view.
    w.walk_to(2, 820.0, 500.0);
    assert!(w.take(1).is_empty());
    assert!(w.take(2).is_empty());
    // 290 px: in view.
    w.advance(300);
    w.step(2, 790.0, 500.0);
    assert_eq!(
        w.take(1),
        vec![
            json!({"topic": "PLAYER_MOVEMENT", "user_id": "2", "velocity": {"x": 0.0, "y": 0.0}, "position": {"x": 790.0, "y": 500.0}})
        ]
    );
    assert_eq!(
        w.take(2),
        vec![
            json!({"topic": "PLAYER_MOVEMENT", "user_id": "1", "velocity": {"x": 0.0, "y": 0.0}, "position": {"x": 500.0, "y": 500.0}})
        ]
    );
    // From now on moves within view are plain updates.
    w.advance(300);
    w.step(2, 760.0, 500.0);
    assert_eq!(topics(&w.take(1)), ["PLAYER_MOVEMENT"]);
    assert!(w.take(2).is_empty());
}

// ----- movement checks -----

#[test]
fn teleports_are_rejected_with_an_error_and_not_broadcast() {
    let (mut w, _) = pair();
    w.advance(100);
    w.step(1, 1500.0, 600.0);
    assert_error(&w.take(1), "PLAYER_MOVEMENT");
    assert!(w.take(2).is_empty(), "a refused move is not broadcast");
    assert_eq!(w.engine.position_of("1"), Some(at(600.0, 600.0)));
    // The session goes on: a legal move is accepted.
    w.step(1, 620.0, 600.0);
    assert!(w.take(1).is_empty());
    assert_eq!(topics(&w.take(2)), ["PLAYER_MOVEMENT"]);
}

#[test]
fn moves_outside_the_map_or_into_a_wall_are_rejected() {
    let mut w = World::small();
    w.join(1, member(1), 300.0, 300.0);
    w.join(2, member(2), 20.0, 20.0);
    w.join(3, member(3), 1900.0, 1260.0);
    w.clear();
    w.step(1, IN_WALL.0, IN_WALL.1);
    assert_error(&w.take(1), "PLAYER_MOVEMENT");
    assert_eq!(w.engine.position_of("1"), Some(at(300.0, 300.0)));
    w.step(2, -5.0, 20.0);
    assert_error(&w.take(2), "PLAYER_MOVEMENT");
    w.step(3, 1925.0, 1260.0);
    assert_error(&w.take(3), "PLAYER_MOVEMENT");
    w.step(3, 1900.0, 1285.0);
    assert_error(&w.take(3), "PLAYER_MOVEMENT");
    for s in 1..=3 {
        assert!(w.take_topics(s, &["PLAYER_MOVEMENT"]).is_empty());
    }
    assert_eq!(w.engine.position_of("2"), Some(at(20.0, 20.0)));
    assert_eq!(w.engine.position_of("3"), Some(at(1900.0, 1260.0)));
}

#[test]
fn moves_through_a_wall_and_long_idle_jumps_are_refused() {
    // Security review F7: only the end points were checked, and the allowance grew with idle
    // time (a 4,300 px jump after 15 s). The small map's wall block is x 320-384, y 320-384.
    let mut w = World::small();
    w.join(1, member(1), 300.0, 335.0); // body centre (299, 350), left of the block
    w.join(2, member(2), 600.0, 900.0);
    w.clear();
    w.advance(1000);
    w.step(1, 410.0, 335.0); // body (409, 350): right of it, 110 px away, through 64 px of wall
    assert_error(&w.take(1), "PLAYER_MOVEMENT");
    assert_eq!(w.engine.position_of("1"), Some(at(300.0, 335.0)));
    // Round the corner: a chord that cuts the block's corner by a pixel or two is a walk.
    w.step(1, 311.0, 315.0); // body (310, 330)
    w.advance(200);
    w.step(1, 331.0, 295.0); // body (330, 310)
    assert!(w.take_topics(1, &["error"]).is_empty());
    assert_eq!(w.engine.position_of("1"), Some(at(331.0, 295.0)));
    // Fifteen seconds standing still earn one second's walk, not 4,500 px.
    w.advance(15_000);
    w.step(2, 600.0, 300.0);
    assert_error(&w.take_topics(2, &["error"]), "PLAYER_MOVEMENT");
    assert_eq!(w.engine.position_of("2"), Some(at(600.0, 900.0)));
    w.step(2, 600.0, 600.0);
    assert!(w.take_topics(2, &["error"]).is_empty());
    assert_eq!(w.engine.position_of("2"), Some(at(600.0, 600.0)));
}

#[test]
fn nobody_spawns_inside_a_wall() {
    let mut w = World::small();
    w.connect(5, member(5));
    w.frame(
        5,
        json!({"topic": "JOIN_PLAYER", "position": {"x": IN_WALL.0, "y": IN_WALL.1}}),
    );
    assert_error(&w.take_topics(5, &["error"]), "JOIN_PLAYER");
    assert_eq!(
        w.engine.position_of("5"),
        Some(at(50.0, 50.0)),
        "the default spawn point"
    );
}

#[test]
fn small_jitter_and_bunched_messages_are_tolerated() {
    let (mut w, _) = pair();
    // Two messages arriving together, 50 px apart: within the jitter allowance.
    w.step(1, 650.0, 600.0);
    let got = w.take(1);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(w.engine.position_of("1"), Some(at(650.0, 600.0)));
    // One second at walking speed, slightly late.
    w.advance(1000);
    w.step(1, 650.0, 950.0);
    assert!(w.take_topics(1, &["error"]).is_empty());
    assert_eq!(w.engine.position_of("1"), Some(at(650.0, 950.0)));
}

#[test]
fn moving_needs_the_walk_permission_whatever_the_topic() {
    let mut w = World::small();
    let mut still = member_role();
    still.flags.walk = false;
    w.join(1, member_with(1, still), 600.0, 600.0);
    w.join(2, member(2), 1000.0, 600.0);
    w.clear();
    w.step(1, 620.0, 600.0);
    assert_error(&w.take(1), "PLAYER_MOVEMENT");
    // Neither the heartbeat nor a new spawn message moves a user who may not walk.
    w.advance(1000);
    w.frame(1, json!({"topic": "PING", "position": {"x": 640, "y": 600}}));
    assert_eq!(w.take(1), vec![json!("PONG")]);
    assert_eq!(w.engine.position_of("1"), Some(at(600.0, 600.0)));
    w.frame(1, json!({"topic": "JOIN_PLAYER", "position": {"x": 640, "y": 600}}));
    assert_eq!(w.engine.position_of("1"), Some(at(600.0, 600.0)));
    assert!(w.take_topics(2, &["PLAYER_MOVEMENT"]).is_empty());
}

#[test]
fn a_second_join_player_cannot_teleport() {
    let (mut w, _) = pair();
    w.advance(100);
    w.frame(1, json!({"topic": "JOIN_PLAYER", "position": {"x": 1800, "y": 1200}}));
    assert_error(&w.take_topics(1, &["error"]), "JOIN_PLAYER");
    assert_eq!(w.engine.position_of("1"), Some(at(600.0, 600.0)));
    // The others still (re)learn the user, at the position the server knows.
    let j = w.take_topics(2, &["JOIN_PLAYER"]);
    assert_eq!(j.len(), 1);
    assert_eq!(j[0]["position"], json!({"x": 600.0, "y": 600.0}));
    // A scene restart at the current position is fine.
    w.frame(1, json!({"topic": "JOIN_PLAYER", "position": {"x": 610, "y": 600}}));
    assert!(w.take_topics(1, &["error"]).is_empty());
    assert_eq!(w.engine.position_of("1"), Some(at(610.0, 600.0)));
}

#[test]
fn ping_is_answered_with_the_text_pong_and_updates_a_plausible_position() {
    let mut w = World::small();
    w.connect(1, member(1));
    w.take(1);
    w.frame(1, json!({"topic": "PING", "position": {}}));
    assert_eq!(
        w.take(1),
        vec![json!("PONG")],
        "PONG is a bare text frame, even before JOIN_PLAYER"
    );
    w.frame(1, json!({"topic": "JOIN_PLAYER", "position": {"x": 600, "y": 600}}));
    w.advance(500);
    w.frame(1, json!({"topic": "PING", "position": {"x": 650, "y": 600}}));
    assert_eq!(w.take(1), vec![json!("PONG")]);
    assert_eq!(w.engine.position_of("1"), Some(at(650.0, 600.0)));
    w.frame(1, json!({"topic": "PING", "position": {"x": 1650, "y": 600}}));
    assert_eq!(w.take(1), vec![json!("PONG")]);
    assert_eq!(
        w.engine.position_of("1"),
        Some(at(650.0, 600.0)),
        "an implausible heartbeat position is ignored"
    );
    let out = w.frame(1, json!({"topic": "PING", "position": {"x": 650, "y": 600}}));
    assert!(matches!(&out[0], Output::Send { to: 1, frame } if &*frame.text == "PONG"));
}

// ----- proximity -----

#[test]
fn coming_near_wires_both_users_into_one_numeric_group() {
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 900.0, 600.0);
    assert!(w.engine.groups().is_empty());
    w.clear();
    w.advance(500);
    w.step(2, 749.0, 600.0);
    let g = w.group_of("1").expect("151 px → 149 px apart: near");
    assert!(g.parse::<u64>().is_ok(), "group ids are numbers: {g}");
    assert_eq!(w.take_rooms(1), vec![wire(true, &["2"]), groups_snapshot(&[&g])]);
    assert_eq!(w.take_rooms(2), vec![wire(true, &["1"]), groups_snapshot(&[&g])]);
    assert_eq!(
        joins(&w.take_media()),
        vec![
            (g.clone(), "1".into(), MediaRole::Speaker),
            (g.clone(), "2".into(), MediaRole::Speaker)
        ]
    );
    assert_eq!(w.engine.rooms_of("1"), vec![g.clone()]);
}

#[test]
fn near_users_part_only_beyond_one_point_two_times_the_radius() {
    let (mut w, g) = pair();
    for x in [750.0, 770.0, 780.0] {
        w.step(2, x, 600.0);
        assert_eq!(
            w.group_of("2").as_ref(),
            Some(&g),
            "{} px apart: still together",
            x - 600.0
        );
    }
    assert!(w.take_rooms(1).is_empty() && w.take_rooms(2).is_empty());
    w.step(2, 781.0, 600.0);
    assert_eq!(w.group_of("1"), None);
    assert_eq!(
        w.take_rooms(1),
        vec![close_room(&g), unwire(true, &["2"]), groups_snapshot(&[])]
    );
    assert_eq!(
        w.take_rooms(2),
        vec![close_room(&g), unwire(true, &["1"]), groups_snapshot(&[])]
    );
    assert_eq!(w.take_media(), vec![MediaCommand::Destroy { room: g.clone() }]);
    // Back within 1.2× but beyond the radius: still apart.
    w.step(2, 760.0, 600.0);
    assert_eq!(w.group_of("1"), None);
    w.step(2, 750.0, 600.0);
    let g2 = w.group_of("1").expect("within the radius again");
    assert!(
        g2.parse::<u64>().unwrap() > g.parse::<u64>().unwrap(),
        "a closed group's id is never reused"
    );
}

#[test]
fn a_newcomer_is_wired_to_the_group_and_announced_to_its_members() {
    let (mut w, g) = pair();
    w.join(3, member(3), 900.0, 600.0);
    assert_eq!(w.group_of("3"), None, "200 px from the nearest member");
    w.clear();
    w.advance(500);
    w.step(3, 820.0, 600.0);
    assert_eq!(w.group_of("3").as_ref(), Some(&g));
    assert_eq!(w.take_rooms(1), vec![wire(true, &["3"])]);
    assert_eq!(w.take_rooms(2), vec![wire(true, &["3"])]);
    // Nearest first: 2 stands at 700, 1 at 600.
    assert_eq!(w.take_rooms(3), vec![wire(true, &["2", "1"]), groups_snapshot(&[&g])]);
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Join {
            room: g.clone(),
            peer: "3".into(),
            role: MediaRole::Speaker
        }]
    );
}

#[test]
fn merging_groups_keeps_the_larger_groups_id_and_splitting_keeps_it_for_the_larger_part() {
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 700.0, 600.0);
    w.join(3, member(3), 800.0, 600.0);
    w.join(4, member(4), 1050.0, 600.0);
    w.join(5, member(5), 1150.0, 600.0);
    w.join(6, member(6), 925.0, 900.0);
    let big = w.group_of("1").unwrap();
    let small = w.group_of("4").unwrap();
    assert_ne!(big, small);
    assert_eq!(w.group_of("6"), None);
    w.clear();
    // 6 walks up between 3 and 4 and bridges the groups.
    w.walk_to(6, 925.0, 600.0);
    for u in ["1", "2", "3", "4", "5", "6"] {
        assert_eq!(w.group_of(u).as_ref(), Some(&big), "{u} is in the merged group");
    }
    // Each hears of the newcomers nearest first.
    for s in 1..=3 {
        assert_eq!(w.take_rooms(s), vec![wire(true, &["6", "4", "5"])]);
    }
    for s in 4..=5 {
        assert_eq!(
            w.take_rooms(s),
            vec![
                close_room(&small),
                wire(true, &["6", "3", "2", "1"]),
                groups_snapshot(&[&big])
            ]
        );
    }
    assert_eq!(
        w.take_rooms(6),
        vec![wire(true, &["3", "4", "2", "5", "1"]), groups_snapshot(&[&big])]
    );
    let media = w.take_media();
    assert!(media.contains(&MediaCommand::Destroy { room: small.clone() }));
    assert_eq!(
        joins(&media),
        ["4", "5", "6"]
            .iter()
            .map(|p| (big.clone(), p.to_string(), MediaRole::Speaker))
            .collect::<Vec<_>>()
    );
    assert!(
        !media.iter().any(|m| matches!(m, MediaCommand::Leave { .. })),
        "the merged room was destroyed, not left"
    );
    assert_eq!(w.engine.groups().len(), 1);

    // 6 walks away again: the larger part (1, 2, 3) keeps the id.
    w.walk_to(6, 925.0, 760.0);
    assert_eq!(w.group_of("1").as_ref(), Some(&big));
    let split = w.group_of("4").expect("4 and 5 stay together");
    assert_eq!(w.group_of("5").as_ref(), Some(&split));
    assert!(split != big && split != small);
    assert_eq!(w.group_of("6"), None);
    for s in 1..=3 {
        assert_eq!(w.take_rooms(s), vec![unwire(true, &["4", "5", "6"])]);
    }
    for s in 4..=5 {
        assert_eq!(
            w.take_rooms(s),
            vec![
                close_room(&big),
                unwire(true, &["1", "2", "3", "6"]),
                groups_snapshot(&[&split])
            ]
        );
    }
    assert_eq!(
        w.take_rooms(6),
        vec![
            close_room(&big),
            unwire(true, &["1", "2", "3", "4", "5"]),
            groups_snapshot(&[])
        ]
    );
    let media = w.take_media();
    for p in ["4", "5", "6"] {
        assert!(
            media.contains(&MediaCommand::Leave {
                rooms: vec![big.clone()],
                peer: p.into()
            }),
            "{p} leaves {big}"
        );
    }
    assert_eq!(
        joins(&media),
        vec![
            (split.clone(), "4".into(), MediaRole::Speaker),
            (split, "5".into(), MediaRole::Speaker)
        ]
    );
}

#[test]
fn group_ids_are_compared_as_numbers() {
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 1000.0, 600.0);
    // Form and close groups until a pair holds id 9.
    loop {
        w.advance(2000);
        w.step(2, 740.0, 600.0);
        let id: u64 = w.group_of("1").expect("near").parse().expect("numeric");
        if id == 9 {
            break;
        }
        w.advance(2000);
        w.step(2, 1000.0, 600.0);
        assert_eq!(w.group_of("1"), None);
    }
    w.join(3, member(3), 1000.0, 600.0);
    w.join(4, member(4), 1100.0, 600.0);
    assert_eq!(w.group_of("3").as_deref(), Some("10"));
    // 5 bridges two groups of equal size: the smaller id wins, 9 < 10 as numbers.
    w.join(5, member(5), 870.0, 900.0);
    w.walk_to(5, 870.0, 600.0);
    for u in ["1", "2", "3", "4", "5"] {
        assert_eq!(w.group_of(u).as_deref(), Some("9"), "{u}");
    }
}

#[test]
fn groups_are_capped_at_the_configured_size() {
    let mut w = World::small_with(|c| c.proximity.max_group = 3);
    for (i, x) in [600.0, 640.0, 680.0, 720.0].into_iter().enumerate() {
        w.join(i as u64 + 1, member(i as i64 + 1), x, 600.0);
    }
    let groups = w.engine.groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].1, ["1", "2", "3"].iter().map(|s| s.to_string()).collect());
    assert_eq!(w.group_of("4"), None, "the fourth does not fit");
    assert_eq!(w.take_rooms(4), Vec::<Value>::new());
    w.join(5, member(5), 760.0, 600.0);
    assert_eq!(w.group_of("4"), w.group_of("5"), "the overflow forms its own group");
    for (_, members) in w.engine.groups() {
        assert!((2..=3).contains(&members.len()));
    }
}

#[test]
fn client_wire_claims_never_create_or_break_groups() {
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 1000.0, 600.0);
    w.clear();
    w.frame(1, json!({"topic": "WIRE_PLAYER", "users_id": ["2"]}));
    w.frame(2, json!({"topic": "WIRE_PLAYER", "users_id": [1]}));
    assert!(
        w.engine.groups().is_empty(),
        "mutual claims without proximity form nothing"
    );
    assert_eq!(w.take(1), vec![wire(false, &[]), groups_snapshot(&[])]);
    assert_eq!(w.take(2), vec![wire(false, &[]), groups_snapshot(&[])]);
    assert!(w.take_media().is_empty());
    w.advance(2000);
    w.step(2, 700.0, 600.0);
    let g = w.group_of("1").unwrap();
    w.clear();
    w.frame(1, json!({"topic": "UNWIRE_PLAYER", "users_id": ["2"]}));
    assert_eq!(w.group_of("1").as_ref(), Some(&g), "a claim does not part near users");
    assert_eq!(w.take(1), vec![wire(false, &["2"]), groups_snapshot(&[&g])]);
    assert!(w.take(2).is_empty());
    assert!(w.take_media().is_empty());
}

// ----- chat -----

#[test]
fn nearby_chat_reaches_each_co_member_exactly_once_and_the_sender() {
    let (mut w, _) = trio_and_a_stranger();
    w.frame(1, chat("hi there", "NEARBY"));
    let expected = json!({"topic": "SEND_MESSAGE", "text": "hi there", "to": "NEARBY", "from": "1", "date": "13:45"});
    for s in 1..=3 {
        assert_eq!(w.take(s), vec![expected.clone()], "session {s}");
    }
    assert!(w.take(4).is_empty());
    // Alone, NEARBY reaches only the sender.
    w.frame(4, chat("anyone?", "NEARBY"));
    assert_eq!(topics(&w.take(4)), ["SEND_MESSAGE"]);
    for s in 1..=3 {
        assert!(w.take(s).is_empty());
    }
}

#[test]
fn nearby_chat_in_a_conference_reaches_its_members() {
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, IN_C1.1);
    w.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    w.join(3, member(3), 600.0, 600.0);
    w.frame(1, join_conference("C1-7"));
    w.frame(2, join_conference("C1-7"));
    w.clear();
    w.frame(2, chat("hello room", "NEARBY"));
    assert_eq!(topics(&w.take(1)), ["SEND_MESSAGE"]);
    assert_eq!(topics(&w.take(2)), ["SEND_MESSAGE"]);
    assert!(w.take(3).is_empty());
}

#[test]
fn chat_to_all_reaches_everyone_including_the_sender() {
    let (mut w, _) = trio_and_a_stranger();
    w.connect(5, guest("late")); // connected, not yet spawned
    w.clear();
    w.frame(
        4,
        json!({"topic": "SEND_MESSAGE", "text": "hello world", "to": "ALL", "extra": 1, "from": "forged"}),
    );
    for s in 1..=5 {
        let m = w.take(s);
        assert_eq!(m.len(), 1, "session {s}");
        assert_eq!(m[0]["text"], "hello world");
        assert_eq!(m[0]["from"], "4", "the sender is stamped by the server");
        assert_eq!(m[0]["date"], "13:45");
        assert!(m[0].get("extra").is_none(), "only the chat's fields are relayed");
    }
}

#[test]
fn chat_is_limited_in_length_and_needs_the_chat_permission() {
    let (mut w, _) = pair();
    w.frame(1, chat(&"é".repeat(1000), "ALL"));
    assert_eq!(topics(&w.take(2)), ["SEND_MESSAGE"]);
    w.take(1);
    w.frame(1, chat(&"é".repeat(1001), "ALL"));
    assert_error(&w.take(1), "SEND_MESSAGE");
    assert!(w.take(2).is_empty());
    w.frame(1, chat("   ", "ALL"));
    assert_error(&w.take(1), "SEND_MESSAGE");
    w.frame(1, chat("psst", "2"));
    assert_error(&w.take(1), "SEND_MESSAGE");
    assert!(w.take(2).is_empty());

    let mut w = World::small();
    let mut mute = member_role();
    mute.flags.chat = false;
    w.join(1, member_with(1, mute), 600.0, 600.0);
    w.join(2, member(2), 700.0, 600.0);
    w.clear();
    w.frame(1, chat("hi", "ALL"));
    assert_error(&w.take(1), "SEND_MESSAGE");
    w.frame(1, chat("hi", "NEARBY"));
    assert_error(&w.take(1), "SEND_MESSAGE");
    assert!(w.take(2).is_empty());
}

// ----- conferences -----

#[test]
fn a_conference_is_joined_only_with_this_worlds_id_and_from_inside_its_area() {
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, IN_C1.1);
    w.join(2, member(2), 600.0, 600.0);
    w.join(3, member(3), 700.0, 600.0);
    let group = w.group_of("2").unwrap();
    w.connect(4, member(4));
    w.clear();
    for bad in ["C1-8", "C9-7", "C1", "C1-", "-7", group.as_str(), "C2-7", "C1-7-7"] {
        w.frame(1, join_conference(bad));
        assert_error(&w.take(1), "JOIN_CONFERENCE");
        assert!(w.engine.conference_members(bad).is_empty());
    }
    w.frame(2, join_conference("C1-7"));
    assert_error(&w.take(2), "JOIN_CONFERENCE");
    assert_eq!(
        w.group_of("2").as_ref(),
        Some(&group),
        "a refused join keeps the proximity group"
    );
    w.frame(4, join_conference("C1-7"));
    assert_error(&w.take(4), "JOIN_CONFERENCE");
    assert!(w.take_media().is_empty());
    w.frame(1, join_conference("C1-7"));
    assert_eq!(w.engine.conference_members("C1-7"), ["1".to_string()].into());
    assert_eq!(w.engine.rooms_of("1"), vec!["C1-7".to_string()]);
}

#[test]
fn conference_join_and_leave_sequences_match_the_original_client() {
    let mut w = World::small();
    w.join(1, member_with(1, admin_role()), IN_C1.0, IN_C1.1);
    w.join(2, member(2), IN_C1.0 + 100.0, IN_C1.1);
    w.frame(1, join_conference("C1-7"));
    w.clear();
    w.frame(2, join_conference("C1-7"));
    assert_eq!(w.take_rooms(2), vec![wire(false, &["1"]), groups_snapshot(&["C1-7"])]);
    assert_eq!(w.take_rooms(1), vec![wire(true, &["2"])]);
    assert_eq!(
        joins(&w.take_media()),
        vec![("C1-7".into(), "2".into(), MediaRole::Listener)]
    );
    assert_eq!(events(&w.take_records()), vec![(2, "JOIN_CONFERENCE")]);
    // Joining again is a no-op.
    w.frame(2, join_conference("C1-7"));
    assert!(w.take(2).is_empty() && w.take_media().is_empty() && w.take_records().is_empty());

    w.frame(2, json!({"topic": "LEAVE_CONFERENCE", "conference_id": "C1-7"}));
    assert_eq!(
        w.take_rooms(2),
        vec![unwire(false, &[]), close_room("C1-7"), groups_snapshot(&[])]
    );
    assert_eq!(w.take_rooms(1), vec![unwire(true, &["2"])]);
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Leave {
            rooms: vec!["C1-7".into()],
            peer: "2".into()
        }]
    );
    assert_eq!(events(&w.take_records()), vec![(2, "LEAVE_CONFERENCE")]);
    // Back in proximity: 1 is in the conference, so 2 stays alone.
    assert_eq!(w.group_of("2"), None);
    w.frame(2, json!({"topic": "LEAVE_CONFERENCE", "conference_id": "C1-7"}));
    assert_error(&w.take(2), "LEAVE_CONFERENCE");
    // The last member leaving closes the room.
    w.frame(1, json!({"topic": "LEAVE_CONFERENCE", "conference_id": "C1-7"}));
    let media = w.take_media();
    assert_eq!(
        media[..2],
        [
            MediaCommand::Leave {
                rooms: vec!["C1-7".into()],
                peer: "1".into()
            },
            MediaCommand::Destroy { room: "C1-7".into() }
        ]
    );
    // Now both stand 100 px apart in proximity again.
    let g = w.group_of("1").expect("grouped again");
    assert_eq!(w.group_of("2").as_ref(), Some(&g));
    assert_eq!(
        joins(&media[2..]),
        vec![
            (g.clone(), "1".into(), MediaRole::Speaker),
            (g, "2".into(), MediaRole::Speaker)
        ]
    );
}

#[test]
fn the_conference_role_decides_speaker_or_listener() {
    let mut w = World::small();
    let mut speaker = member_role();
    speaker.flags.talk_conference = true;
    let mut listener = member_role();
    listener.flags.talk = true;
    listener.flags.talk_conference = false;
    w.join(1, member_with(1, speaker), IN_C1.0, IN_C1.1);
    w.join(2, member_with(2, listener), IN_C2.0, IN_C2.1);
    w.clear();
    w.frame(1, join_conference("C1-7"));
    w.frame(2, join_conference("C2-7"));
    assert_eq!(
        joins(&w.take_media()),
        vec![
            ("C1-7".into(), "1".into(), MediaRole::Speaker),
            ("C2-7".into(), "2".into(), MediaRole::Listener)
        ]
    );
}

#[test]
fn joining_a_conference_leaves_the_proximity_group_first() {
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, 400.0); // body 63 px below C1
    w.join(2, member(2), IN_C1.0, 480.0);
    let g = w.group_of("1").unwrap();
    w.frame(1, join_conference("C1-7"));
    assert_error(&w.take_topics(1, &["error"]), "JOIN_CONFERENCE");
    w.advance(300);
    w.step(1, IN_C1.0, 330.0); // body inside C1, still 150 px from 2
    assert_eq!(w.group_of("1").as_ref(), Some(&g));
    w.clear();
    w.frame(1, join_conference("C1-7"));
    assert_eq!(
        w.take_rooms(1),
        vec![
            close_room(&g),
            unwire(true, &["2"]),
            groups_snapshot(&[]),
            wire(false, &[]),
            groups_snapshot(&["C1-7"])
        ]
    );
    assert_eq!(
        w.take_rooms(2),
        vec![close_room(&g), unwire(true, &["1"]), groups_snapshot(&[])]
    );
    let media = w.take_media();
    assert!(media.contains(&MediaCommand::Destroy { room: g.clone() }));
    assert!(joins(&media).contains(&("C1-7".into(), "1".into(), MediaRole::Listener)));
    assert!(w.engine.groups().is_empty());
    // Someone walking up to a conference member does not group with it.
    w.walk_to(2, IN_C1.0 + 20.0, 360.0);
    assert!(w.engine.groups().is_empty());
}

#[test]
fn walking_out_of_a_conference_area_leaves_it() {
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, IN_C1.1);
    w.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    w.frame(1, join_conference("C1-7"));
    w.frame(2, join_conference("C1-7"));
    w.clear();
    // Within the slack just outside the area: still in.
    w.walk_to(2, IN_C1.0 + 60.0, 360.0); // body 23 px below
    assert_eq!(w.engine.conference_members("C1-7").len(), 2);
    w.walk_to(2, IN_C1.0 + 60.0, 380.0); // body 43 px below
    assert_eq!(w.engine.conference_members("C1-7"), ["1".to_string()].into());
    assert_eq!(
        w.take_rooms(2),
        vec![unwire(false, &[]), close_room("C1-7"), groups_snapshot(&[])]
    );
    assert_eq!(w.take_rooms(1), vec![unwire(true, &["2"])]);
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Leave {
            rooms: vec!["C1-7".into()],
            peer: "2".into()
        }]
    );
    assert_eq!(events(&w.take_records()), vec![(2, "LEAVE_CONFERENCE")]);
}

#[test]
fn joining_a_conference_while_walking_straight_in_is_accepted() {
    // The original client reports a position only when its velocity changes, then sends
    // JOIN_CONFERENCE when its body enters the area: the server extrapolates.
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, 600.0);
    w.join(2, member(2), IN_C1.0 + 60.0, 600.0);
    w.frame(
        1,
        json!({"topic": "PLAYER_MOVEMENT", "position": {"x": IN_C1.0, "y": 600}, "velocity": {"x": 0, "y": -200}}),
    );
    w.clear();
    w.advance(1400); // 280 px up: the body is at y = 335, inside C1
    w.frame(1, join_conference("C1-7"));
    assert!(w.take_topics(1, &["error"]).is_empty());
    assert_eq!(w.engine.conference_members("C1-7"), ["1".to_string()].into());
    // Standing still that far away is not enough.
    w.advance(1400);
    w.frame(2, join_conference("C1-7"));
    assert_error(&w.take_topics(2, &["error"]), "JOIN_CONFERENCE");
    // Nor is claiming a huge velocity: extrapolation is capped at walking speed.
    w.frame(2, json!({"topic": "PLAYER_MOVEMENT", "position": {"x": IN_C1.0 + 60.0, "y": 600}, "velocity": {"x": 0, "y": -3000}}));
    w.advance(100);
    w.frame(2, join_conference("C1-7"));
    assert_error(&w.take_topics(2, &["error"]), "JOIN_CONFERENCE");
}

#[test]
fn a_map_edit_takes_members_out_of_a_vanished_conference() {
    let mut w = World::small();
    w.join(1, member(1), IN_C2.0, IN_C2.1);
    w.join(2, member(2), IN_C2.0 + 60.0, IN_C2.1);
    w.join(3, member(3), IN_C1.0, IN_C1.1);
    for (s, c) in [(1, "C2-7"), (2, "C2-7"), (3, "C1-7")] {
        w.frame(s, join_conference(c));
    }
    w.clear();
    w.input(Input::MapChanged(Box::new(small_map_without_c2())));
    assert!(w.engine.conference_members("C2-7").is_empty());
    assert_eq!(w.engine.conference_members("C1-7").len(), 1);
    // The first to go is told the other left; both end up together in proximity.
    let first = w.take_rooms(1);
    assert_eq!(
        first[..3],
        [unwire(false, &[]), close_room("C2-7"), groups_snapshot(&[])]
    );
    let g = w.group_of("1").expect("back in proximity, 60 px apart");
    assert_eq!(w.group_of("2").as_ref(), Some(&g));
    let media = w.take_media();
    assert!(media.contains(&MediaCommand::Destroy { room: "C2-7".into() }));
    for p in ["1", "2"] {
        assert!(media.contains(&MediaCommand::Leave {
            rooms: vec!["C2-7".into()],
            peer: p.into()
        }));
    }
    assert_eq!(
        events(&w.take_records()),
        vec![(1, "LEAVE_CONFERENCE"), (2, "LEAVE_CONFERENCE")]
    );
    assert_eq!(
        w.take(3),
        [json!({"topic": "MAP_UPDATED"})],
        "another conference is not disturbed; its member is only told to redraw"
    );
    w.frame(1, join_conference("C2-7"));
    assert_error(&w.take(1), "JOIN_CONFERENCE");
}

#[test]
fn only_a_changed_map_is_announced_to_clients() {
    let mut w = World::small();
    w.join(1, member(1), 100.0, 100.0);
    w.join(2, member(2), 900.0, 900.0);
    w.clear();
    // The same map again (the world's name or capacity was edited): nothing to redraw.
    w.input(Input::MapChanged(Box::new(small_map())));
    assert!(w.take(1).is_empty() && w.take(2).is_empty());
    // A new map: everyone is told once, and nobody is moved or regrouped.
    w.input(Input::MapChanged(Box::new(small_map_without_c2())));
    for s in [1, 2] {
        assert_eq!(w.take(s), [json!({"topic": "MAP_UPDATED"})]);
    }
    w.input(Input::MapChanged(Box::new(small_map_without_c2())));
    assert!(w.take(1).is_empty());
}

#[test]
fn request_to_speak_reaches_only_the_managers_present() {
    let mut w = World::small();
    let mut manager = member_role();
    manager.flags.conference_manage = true;
    w.join(1, member_with(1, manager.clone()), IN_C1.0, IN_C1.1);
    w.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    w.join(3, member(3), IN_C1.0 - 60.0, IN_C1.1);
    w.join(4, member_with(4, manager), IN_C2.0, IN_C2.1);
    for (s, c) in [(1, "C1-7"), (2, "C1-7"), (3, "C1-7"), (4, "C2-7")] {
        w.frame(s, join_conference(c));
    }
    w.clear();
    w.frame(2, json!({"topic": "REQUEST_TO_SPEAK", "conference": "C1-7"}));
    assert_eq!(
        w.take(1),
        vec![json!({"topic": "REQUEST_TO_SPEAK", "d": {"user_requested": "2"}})]
    );
    for s in 2..=4 {
        assert!(w.take(s).is_empty(), "session {s}");
    }
    w.frame(2, json!({"topic": "REQUEST_TO_SPEAK", "conference": "C2-7"}));
    assert_error(&w.take(2), "REQUEST_TO_SPEAK");
    assert!(w.take(4).is_empty(), "not to managers of another conference");
}

#[test]
fn only_a_conference_manager_grants_the_floor() {
    let mut w = World::small();
    let mut manager = member_role();
    manager.flags.conference_manage = true;
    w.join(1, member_with(1, manager.clone()), IN_C1.0, IN_C1.1);
    w.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    w.join(3, member(3), IN_C1.0 - 60.0, IN_C1.1);
    w.join(4, member_with(4, manager), IN_C2.0, IN_C2.1);
    w.join(5, member(5), IN_C2.0 + 60.0, IN_C2.1);
    for (s, c) in [(1, "C1-7"), (2, "C1-7"), (3, "C1-7"), (4, "C2-7"), (5, "C2-7")] {
        w.frame(s, join_conference(c));
    }
    w.clear();
    let grant = |to: &str, c: &str| json!({"topic": "PERMISSION_TO_SPEAK", "conference": c, "permission": true, "user_requested": to});
    // A listener cannot grant; a manager of another conference cannot either.
    w.frame(3, grant("2", "C1-7"));
    assert_error(&w.take(3), "PERMISSION_TO_SPEAK");
    w.frame(4, grant("2", "C1-7"));
    assert_error(&w.take(4), "PERMISSION_TO_SPEAK");
    // A manager cannot reach someone outside the conference.
    w.frame(1, grant("5", "C1-7"));
    assert_error(&w.take(1), "PERMISSION_TO_SPEAK");
    assert!(w.take(2).is_empty() && w.take(5).is_empty());
    assert!(w.take_media().is_empty());
    // Listeners may not publish until granted.
    let send_track = json!({"topic": "@send-track", "d": {"roomId": "C1-7", "kind": "audio", "transportId": "t"}});
    w.frame(2, send_track.clone());
    assert_error(&w.take(2), "@send-track");
    w.frame(1, grant("2", "C1-7"));
    assert_eq!(
        w.take(2),
        vec![json!({"topic": "PERMISSION_TO_SPEAK", "d": {"permission": true}})]
    );
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::AddSpeaker {
            room: "C1-7".into(),
            peer: "2".into()
        }]
    );
    w.frame(2, send_track);
    assert!(w.take(2).is_empty());
    assert!(matches!(&w.take_media()[..], [MediaCommand::Signal { topic, .. }] if topic == "@send-track"));
    // A denial is passed on and changes nothing.
    w.frame(
        1,
        json!({"topic": "PERMISSION_TO_SPEAK", "conference": "C1-7", "permission": false, "user_requested": 3}),
    );
    assert_eq!(
        w.take(3),
        vec![json!({"topic": "PERMISSION_TO_SPEAK", "d": {"permission": false}})]
    );
    assert!(w.take_media().is_empty());
}

// ----- files -----

fn file(id: i64, name: &str, owner: &str) -> Value {
    json!({"id": id, "name": name, "size": 10, "type": "text/plain", "owner": owner})
}

#[test]
fn at_most_three_files_are_offered_and_the_owner_is_the_sender() {
    let (mut w, _) = trio_and_a_stranger();
    w.frame(
        1,
        json!({"topic": "ADD_USER_FILES", "files": [file(1, "a.txt", "999"), file(2, "b.txt", "2")]}),
    );
    let expected = json!({"topic": "ADD_USER_FILES", "d": {"files": [file(1, "a.txt", "1"), file(2, "b.txt", "1")]}});
    for s in 1..=3 {
        assert_eq!(w.take(s), vec![expected.clone()], "session {s}");
    }
    assert!(w.take(4).is_empty());
    w.frame(
        1,
        json!({"topic": "ADD_USER_FILES", "files": [file(3, "c.txt", "1"), file(4, "d.txt", "1")]}),
    );
    assert_error(&w.take(1), "ADD_USER_FILES");
    assert!(w.take(2).is_empty());
    w.frame(1, json!({"topic": "ADD_USER_FILES", "files": [file(3, "c.txt", "1")]}));
    assert_eq!(topics(&w.take(2)), ["ADD_USER_FILES"]);
    w.frame(1, json!({"topic": "ADD_USER_FILES", "files": [file(4, "d.txt", "1")]}));
    assert_error(&w.take_topics(1, &["error"]), "ADD_USER_FILES");
    w.frame(1, json!({"topic": "ADD_USER_FILES", "files": ["not an object"]}));
    assert_error(&w.take_topics(1, &["error"]), "ADD_USER_FILES");
    w.clear();

    w.frame(2, json!({"topic": "GET_ROOM_USERS_FILES"}));
    let listed = w.take(2);
    assert_eq!(listed[0]["d"]["files"].as_array().map(Vec::len), Some(3));
    w.frame(4, json!({"topic": "GET_ROOM_USERS_FILES"}));
    assert_eq!(
        w.take(4),
        vec![json!({"topic": "GET_ROOM_USERS_FILES", "d": {"files": []}})]
    );

    w.frame(
        1,
        json!({"topic": "REMOVE_USER_FILE", "file": {"id": 1, "name": "a.txt"}}),
    );
    assert_eq!(
        w.take(2),
        vec![json!({"topic": "REMOVE_USER_FILE", "d": {"file": {"id": 1, "name": "a.txt"}}})]
    );
    assert!(w.take(1).is_empty(), "not echoed to the owner");
    w.frame(
        1,
        json!({"topic": "REMOVE_USER_FILE", "file": {"id": 1, "name": "a.txt"}}),
    );
    assert_error(&w.take(1), "REMOVE_USER_FILE");
    w.clear();
    w.frame(1, json!({"topic": "REMOVE_ALL_USER_FILES"}));
    assert_eq!(
        w.take(3),
        vec![json!({"topic": "REMOVE_ALL_USER_FILES", "d": {"user_id": "1"}})]
    );
    w.clear();
    w.frame(2, json!({"topic": "GET_ROOM_USERS_FILES"}));
    assert_eq!(w.take(2)[0]["d"]["files"], json!([]));
}

#[test]
fn file_transfers_flow_only_between_co_members_of_this_world() {
    let (mut w, _) = trio_and_a_stranger();
    // Another world where user "9" is online.
    let mut other = World::new(
        crowdwire_world::engine::EngineConfig {
            world_id: 8,
            ..World::config()
        },
        small_map(),
    );
    other.join(100, member(9), 600.0, 600.0);
    other.clear();

    w.frame(1, json!({"topic": "ADD_USER_FILES", "files": [file(1, "a.txt", "1")]}));
    w.clear();
    let f = file(1, "a.txt", "1");
    w.frame(2, json!({"topic": "DOWNLOAD_REQUEST", "file": f}));
    assert_eq!(
        w.take(1),
        vec![json!({"topic": "DOWNLOAD_REQUEST", "d": {"file": f, "user_id": "2"}})]
    );
    w.frame(
        1,
        json!({"topic": "ACCEPT_DOWNLOAD_REQUEST", "d": {"user_id": "2", "file": f}}),
    );
    assert_eq!(
        w.take(2),
        vec![json!({"topic": "ACCEPT_DOWNLOAD_REQUEST", "d": {"file": f}})]
    );
    // User 3 never got an acceptance: its start is refused and routes no file data.
    w.take_media();
    w.frame(3, json!({"topic": "START_DOWNLOAD", "d": {"user_id": 1}}));
    assert_error(&w.take(3), "START_DOWNLOAD");
    assert!(w.take(1).is_empty());
    assert!(w.take_media().is_empty());
    w.frame(2, json!({"topic": "START_DOWNLOAD", "d": {"user_id": 1}}));
    assert_eq!(w.take(1), vec![json!({"topic": "START_DOWNLOAD"})]);
    // The SFU is told to send the owner's file data to user 2 only.
    let g = w.group_of("1").expect("grouped");
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::FileTarget {
            rooms: vec![g],
            owner: "1".into(),
            downloader: "2".into()
        }]
    );
    // One acceptance, one start.
    w.frame(2, json!({"topic": "START_DOWNLOAD", "d": {"user_id": 1}}));
    assert_error(&w.take(2), "START_DOWNLOAD");
    w.frame(
        1,
        json!({"topic": "DENY_DOWNLOAD_REQUEST", "d": {"user_id": "3", "reason": "User declined the file transfer!"}}),
    );
    assert_eq!(
        w.take(3),
        vec![
            json!({"topic": "DENY_DOWNLOAD_REQUEST", "d": {"user_id": "3", "reason": "User declined the file transfer!"}})
        ]
    );
    assert!(w.take(4).is_empty());

    // A far user of this world, or a user of another world, is never reached.
    w.frame(4, json!({"topic": "DOWNLOAD_REQUEST", "file": f}));
    assert_error(&w.take(4), "DOWNLOAD_REQUEST");
    for (topic, d) in [
        ("ACCEPT_DOWNLOAD_REQUEST", json!({"user_id": "4", "file": f})),
        ("DENY_DOWNLOAD_REQUEST", json!({"user_id": "4", "reason": "no"})),
        ("START_DOWNLOAD", json!({"user_id": "4"})),
        ("ACCEPT_DOWNLOAD_REQUEST", json!({"user_id": "9", "file": f})),
        ("DENY_DOWNLOAD_REQUEST", json!({"user_id": "9", "reason": "no"})),
        ("START_DOWNLOAD", json!({"user_id": "9"})),
        ("START_DOWNLOAD", json!({"user_id": "nobody"})),
    ] {
        w.frame(1, json!({"topic": topic, "d": d}));
        assert_error(&w.take(1), topic);
    }
    w.frame(2, json!({"topic": "DOWNLOAD_REQUEST", "file": file(1, "a.txt", "9")}));
    assert_error(&w.take(2), "DOWNLOAD_REQUEST");
    // Only files actually offered can be requested.
    w.frame(
        2,
        json!({"topic": "DOWNLOAD_REQUEST", "file": file(7, "secret.txt", "1")}),
    );
    assert_error(&w.take(2), "DOWNLOAD_REQUEST");
    w.frame(
        2,
        json!({"topic": "DOWNLOAD_REQUEST", "file": {"id": 1, "name": "a.txt"}}),
    );
    assert_error(&w.take(2), "DOWNLOAD_REQUEST");
    assert!(w.take(1).is_empty() && w.take(4).is_empty());
    assert!(other.inbox.is_empty());
}

#[test]
fn file_boards_need_the_interact_permission() {
    let mut w = World::small();
    let mut no_interact = member_role();
    no_interact.flags.interact = false;
    w.join(1, member_with(1, no_interact), 600.0, 600.0);
    w.join(2, member(2), 700.0, 600.0);
    w.frame(2, json!({"topic": "ADD_USER_FILES", "files": [file(1, "a.txt", "2")]}));
    w.clear();
    w.frame(1, json!({"topic": "ADD_USER_FILES", "files": [file(5, "x", "1")]}));
    assert_error(&w.take(1), "ADD_USER_FILES");
    w.frame(1, json!({"topic": "GET_ROOM_USERS_FILES"}));
    assert_error(&w.take(1), "GET_ROOM_USERS_FILES");
    w.frame(1, json!({"topic": "DOWNLOAD_REQUEST", "file": file(1, "a.txt", "2")}));
    assert_error(&w.take(1), "DOWNLOAD_REQUEST");
    w.frame(1, json!({"topic": "REMOVE_USER_FILE", "file": file(1, "a.txt", "2")}));
    assert_error(&w.take(1), "REMOVE_USER_FILE");
    assert!(w.take(2).is_empty());
}

// ----- moderation -----

#[test]
fn muting_others_needs_world_mute_and_a_shared_room() {
    let (mut w, g) = trio_and_a_stranger();
    let mut moderator = member_role();
    moderator.flags.world_mute = true;
    w.join(5, member_with(5, moderator), 650.0, 650.0);
    assert_eq!(w.group_of("5").as_ref(), Some(&g));
    w.clear();
    let mute = |who: &str| json!({"topic": "toggle-producer", "d": {"kind": "audio", "pause": true, "peerId": who}});
    w.frame(2, mute("1"));
    assert_error(&w.take(2), "toggle-producer");
    assert!(w.take_media().is_empty() && w.take(1).is_empty());
    w.frame(5, mute("1"));
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Toggle {
            room: g.clone(),
            peer: "1".into(),
            kind: "audio".into(),
            pause: true
        }]
    );
    let expected = json!({"topic": "toggle-peer-producer", "peerId": "1", "kind": "audio", "pause": true});
    for s in [1, 2, 3, 5] {
        assert_eq!(w.take(s), vec![expected.clone()], "session {s}");
    }
    assert!(w.take(4).is_empty());
    w.frame(5, mute("4"));
    assert_error(&w.take(5), "toggle-producer");
    // Anyone may pause their own producers.
    w.frame(
        2,
        json!({"topic": "toggle-producer", "d": {"kind": "video", "pause": false}}),
    );
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Toggle {
            room: g.clone(),
            peer: "2".into(),
            kind: "video".into(),
            pause: false
        }]
    );
    assert!(w.take(2).is_empty());
    assert_eq!(topics(&w.take(1)), ["toggle-peer-producer"]);
    w.frame(
        2,
        json!({"topic": "toggle-producer", "d": {"kind": "screen", "pause": true}}),
    );
    assert_error(&w.take(2), "toggle-producer");
}

#[test]
fn kicking_needs_ban_spares_the_creator_and_a_ban_is_recorded() {
    let mut w = World::small();
    let creator = crowdwire_world::engine::Profile {
        creator: true,
        ..member_with(1, admin_role())
    };
    let mut moderator = member_role();
    moderator.flags.ban = true;
    w.join(1, creator, 600.0, 600.0);
    w.join(2, member_with(2, moderator), 1000.0, 600.0);
    w.join(3, member(3), 1400.0, 600.0);
    w.join(4, guest("g"), 1000.0, 1000.0);
    w.clear();
    let kick = |who: &str, ban: bool| json!({"topic": "KICK_PLAYER", "user_id": who, "ban": ban});
    w.frame(3, kick("2", false));
    assert_error(&w.take(3), "KICK_PLAYER");
    w.frame(2, kick("1", true));
    assert_error(&w.take(2), "KICK_PLAYER");
    w.frame(2, kick("2", false));
    assert_error(&w.take(2), "KICK_PLAYER");
    w.frame(2, kick("nobody", false));
    assert_error(&w.take(2), "KICK_PLAYER");
    assert_eq!(w.engine.population(), 4);
    assert!(w.closes.is_empty() && w.take_records().is_empty());

    w.frame(2, kick("3", true));
    let kicked = w.take(3);
    assert_eq!(topics(&kicked), ["KICKED"]);
    assert!(kicked[0]["d"]["reason"].as_str().is_some_and(|r| r.contains("banned")));
    assert_eq!(w.closes.iter().map(|c| c.0).collect::<Vec<_>>(), vec![3]);
    let records = w.take_records();
    assert!(records.contains(&Record::Removed {
        user_id: "3".into(),
        member_id: Some(3),
        ban: true
    }));
    assert_eq!(events(&records), vec![(3, "LEAVE_PLAYER")]);
    for s in [1, 2, 4] {
        assert_eq!(w.take(s), vec![json!({"topic": "LEAVE_PLAYER", "user_id": "3"})]);
    }
    // Security review F10: guests can be banned too (the world keeps them out by guest id).
    w.frame(2, kick("guest-g", true));
    assert_eq!(topics(&w.take(4)), ["KICKED"]);
    assert!(w.take_records().contains(&Record::Removed {
        user_id: "guest-g".into(),
        member_id: None,
        ban: true
    }));
    assert_eq!(w.engine.population(), 2);
    // Security review F10: whoever was kicked is refused at once if they come straight back
    // (before the world's store has written the block), until the cooldown ends.
    w.closes.clear();
    w.connect(33, member(3));
    assert_eq!(topics(&w.take(33)), ["KICKED"]);
    assert_eq!(
        w.closes.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        vec![(33, 1008)]
    );
    assert_eq!(w.engine.population(), 2);
    w.advance(60_001);
    w.connect(34, member(3));
    assert_eq!(topics(&w.take(34))[0], "PLAYERS_SNAPSHOT");
}

#[test]
fn a_second_session_of_the_same_user_kicks_the_older_one() {
    let (mut w, g) = pair();
    w.connect(11, member(1));
    assert_eq!(
        w.take(1),
        vec![json!({"topic": "KICKED", "d": {"reason": REPLACED_REASON}})]
    );
    assert_eq!(w.closes.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
    let fresh = w.take(11);
    assert_eq!(topics(&fresh), ["PLAYERS_SNAPSHOT", "WIRE_PLAYER", "GROUPS_SNAPSHOT"]);
    assert_eq!(fresh[1], wire(false, &["2"]));
    assert_eq!(fresh[2], groups_snapshot(&[&g]));
    assert!(w.take(2).is_empty(), "the others see no leave");
    assert_eq!(w.engine.population(), 2);
    assert!(w.take_records().is_empty(), "the same presence goes on: no new events");
    // The old session is dead: its frames are ignored, and its close changes nothing.
    w.frame(1, chat("ghost", "ALL"));
    assert!(w.last.is_empty() && w.take(2).is_empty());
    w.close(1, true);
    assert_eq!(w.engine.population(), 2);
    w.frame(11, chat("me again", "ALL"));
    assert_eq!(w.take(2)[0]["from"], "1");
}

#[test]
fn max_users_refuses_the_extra_connection() {
    let mut w = World::small_with(|c| c.max_users = Some(2));
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, guest("b"), 700.0, 600.0);
    w.clear();
    w.connect(3, member(3));
    assert_eq!(
        w.take(3),
        vec![json!({"topic": "KICKED", "d": {"reason": FULL_REASON}})]
    );
    assert_eq!(w.closes, vec![(3, 1008, FULL_REASON.to_string())]);
    assert_eq!(w.engine.population(), 2);
    assert!(w.take_records().is_empty());
    assert!(w.take(1).is_empty());
    // A second window of a present user is not an extra user.
    w.connect(4, member(1));
    assert_eq!(topics(&w.take(4))[0], "PLAYERS_SNAPSHOT");
    // Room frees up when someone leaves; a capacity change applies at once.
    w.close(2, true);
    w.connect(5, member(3));
    assert_eq!(topics(&w.take(5)), ["PLAYERS_SNAPSHOT"]);
    w.input(Input::MaxUsersChanged(Some(3)));
    w.connect(6, member(6));
    assert_eq!(topics(&w.take(6)), ["PLAYERS_SNAPSHOT"]);
    w.connect(7, member(7));
    assert_eq!(topics(&w.take(7)), ["KICKED"]);
}

// ----- safety -----

#[test]
fn a_flood_gets_error_frames_then_a_close() {
    let (mut w, _) = pair();
    w.advance(10_001); // a full bucket
    for _ in 0..300 {
        w.frame(1, json!({"topic": "PING", "position": {"x": 600, "y": 600}}));
    }
    let got = w.take(1);
    let pongs = got.iter().filter(|m| topic(m) == "PONG").count();
    let errors = got.iter().filter(|m| topic(m) == "error").count();
    assert_eq!(pongs, 80, "the burst allowance is served");
    assert!(errors >= 2, "refusals are reported, got {errors}");
    assert_eq!(topic(got.last().unwrap()), "KICKED");
    assert_eq!(w.closes.len(), 1);
    assert_eq!(w.closes[0].0, 1);
    assert_eq!(
        w.take_topics(2, &["LEAVE_PLAYER"]),
        vec![json!({"topic": "LEAVE_PLAYER", "user_id": "1"})]
    );
    assert_eq!(w.engine.population(), 1);

    // A steady client at the sustained rate is never refused.
    let mut w = World::small();
    w.join(1, member(1), 600.0, 600.0);
    w.clear();
    for _ in 0..400 {
        w.advance(25);
        w.frame(1, json!({"topic": "PING", "position": {"x": 600, "y": 600}}));
    }
    assert_eq!(w.take(1).len(), 400);
    assert!(w.closes.is_empty());
}

#[test]
fn malformed_frames_get_an_error_and_the_session_continues() {
    let (mut w, _) = pair();
    let cases: [(&str, Value); 12] = [
        ("", Value::Null),
        ("{", Value::Null),
        ("[]", Value::Null),
        ("3", Value::Null),
        ("\"PING\"", Value::Null),
        (r#"{"no":"topic"}"#, Value::Null),
        (r#"{"topic":5}"#, Value::Null),
        (r#"{"topic":"PLAYER_MOVEMENT"}"#, json!("PLAYER_MOVEMENT")),
        (
            r#"{"topic":"PLAYER_MOVEMENT","position":{"x":"1","y":2}}"#,
            json!("PLAYER_MOVEMENT"),
        ),
        (r#"{"topic":"SEND_MESSAGE","text":5,"to":"ALL"}"#, json!("SEND_MESSAGE")),
        (r#"{"topic":"WIRE_PLAYER","users_id":[{"x":1}]}"#, json!("WIRE_PLAYER")),
        (r#"{"topic":"NO_SUCH_TOPIC"}"#, json!("NO_SUCH_TOPIC")),
    ];
    for (text, about) in cases {
        w.text(1, text);
        let got = w.take(1);
        assert_eq!(topics(&got), ["error"], "{text:?}");
        assert_eq!(got[0]["d"]["topic"], about, "{text:?}");
    }
    assert!(w.take(2).is_empty());
    assert!(w.closes.is_empty());
    w.frame(1, chat("still here", "ALL"));
    assert_eq!(topics(&w.take(2)), ["SEND_MESSAGE"]);
}

#[test]
fn frames_from_unknown_sessions_are_ignored() {
    let (mut w, _) = pair();
    w.input(Input::Frame {
        session: 99,
        message: ClientMessage::parse(r#"{"topic":"SEND_MESSAGE","text":"x","to":"ALL"}"#),
    });
    assert!(w.last.is_empty());
    w.close(99, true);
    assert!(w.last.is_empty());
}

// ----- leaving and coming back -----

#[test]
fn a_dropped_connection_lingers_for_the_grace_period_then_leaves_on_tick() {
    let (mut w, g) = pair();
    w.close(1, false);
    assert_eq!(
        w.take(2),
        vec![reconnecting("1")],
        "the others still see the user, and know why it stands still"
    );
    assert_eq!((w.engine.population(), w.engine.online()), (2, 1));
    assert_eq!(w.group_of("1").as_ref(), Some(&g));
    assert!(w.take_records().contains(&Record::Position {
        user_id: "1".into(),
        member_id: Some(1),
        position: at(600.0, 600.0)
    }));
    w.advance(29_999);
    w.tick();
    assert_eq!(w.engine.population(), 2);
    assert!(w.take(2).is_empty());
    w.advance(1);
    w.tick();
    assert_eq!(w.engine.population(), 1);
    assert_eq!(
        w.take(2),
        vec![
            close_room(&g),
            unwire(true, &["1"]),
            groups_snapshot(&[]),
            json!({"topic": "LEAVE_PLAYER", "user_id": "1"})
        ]
    );
    assert_eq!(events(&w.take_records()), vec![(1, "LEAVE_PLAYER")]);
    assert_eq!(w.take_media(), vec![MediaCommand::Destroy { room: g }]);
}

#[test]
fn reconnecting_within_the_grace_period_restores_position_and_rooms() {
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, IN_C1.1);
    w.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    w.join(3, member(3), 600.0, 600.0);
    w.join(4, member(4), 700.0, 600.0);
    w.frame(1, join_conference("C1-7"));
    w.frame(2, join_conference("C1-7"));
    let g = w.group_of("3").unwrap();
    w.close(1, false);
    w.close(3, false);
    w.clear();
    w.advance(10_000);
    w.connect(31, member(3));
    let back = w.take(31);
    assert_eq!(
        topics(&back),
        ["PLAYERS_SNAPSHOT", "PLAYER_PRESENCE", "WIRE_PLAYER", "GROUPS_SNAPSHOT"]
    );
    assert_eq!(back[0]["snapshot"]["4"], json!({"x": 700.0, "y": 600.0}));
    assert_eq!(back[1], reconnecting("1"), "1 is not back yet");
    assert_eq!(back[2], wire(false, &["4"]));
    assert_eq!(back[3], groups_snapshot(&[&g]));
    w.connect(11, member(1));
    let back = w.take(11);
    assert_eq!(topics(&back), ["PLAYERS_SNAPSHOT", "WIRE_PLAYER", "GROUPS_SNAPSHOT"]);
    assert_eq!(back[1], wire(false, &["2"]));
    assert_eq!(back[2], groups_snapshot(&["C1-7"]));
    assert_eq!(
        joins(&w.take_media()),
        vec![
            (g.clone(), "3".into(), MediaRole::Speaker),
            ("C1-7".into(), "1".into(), MediaRole::Listener)
        ]
    );
    assert_eq!(w.engine.position_of("3"), Some(at(600.0, 600.0)));
    assert_eq!(w.take(31), vec![online("1")]);
    for s in [2, 4] {
        assert_eq!(
            w.take(s),
            vec![online("3"), online("1")],
            "nobody saw them leave, only come back"
        );
    }
    assert!(events(&w.take_records()).is_empty());
    // The client restarts its scene at its last position.
    w.frame(31, json!({"topic": "JOIN_PLAYER", "position": {"x": 600, "y": 600}}));
    assert!(w.take_topics(31, &["error"]).is_empty());
    assert_eq!(topics(&w.take(4)), ["JOIN_PLAYER"]);
    // The grace period no longer applies.
    w.advance(60_000);
    w.tick();
    assert_eq!(w.engine.population(), 4);
}

#[test]
fn a_clean_close_leaves_at_once_withdrawing_files_before_parting() {
    let (mut w, g) = trio_and_a_stranger();
    w.frame(1, json!({"topic": "ADD_USER_FILES", "files": [file(1, "a.txt", "1")]}));
    w.clear();
    w.close(1, true);
    assert_eq!(w.engine.population(), 3);
    assert_eq!(
        w.take(2),
        vec![
            json!({"topic": "REMOVE_ALL_USER_FILES", "d": {"user_id": "1"}}),
            unwire(true, &["1"]),
            json!({"topic": "LEAVE_PLAYER", "user_id": "1"}),
        ]
    );
    assert_eq!(w.take(4), vec![json!({"topic": "LEAVE_PLAYER", "user_id": "1"})]);
    assert_eq!(w.group_of("2").as_ref(), Some(&g), "2 and 3 keep the group");
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Leave {
            rooms: vec![g],
            peer: "1".into()
        }]
    );
    let records = w.take_records();
    assert!(records.contains(&Record::Position {
        user_id: "1".into(),
        member_id: Some(1),
        position: at(600.0, 600.0)
    }));
    assert_eq!(events(&records), vec![(1, "LEAVE_PLAYER")]);
}

#[test]
fn a_user_who_never_spawned_leaves_at_once_even_when_dropped() {
    let (mut w, _) = pair();
    w.connect(3, member(3));
    w.close(3, false);
    assert_eq!(w.engine.population(), 2);
    assert_eq!(w.take(1), vec![json!({"topic": "LEAVE_PLAYER", "user_id": "3"})]);
}

#[test]
fn a_drop_is_told_at_once_to_everyone_who_would_see_the_player_leave() {
    // A guest and a member far apart, out of each other's area of interest: presence, like
    // joining and leaving, is world-wide.
    let mut w = World::small_with(|c| c.interest_area = (400.0, 400.0));
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, guest("ann"), 1500.0, 1100.0);
    w.join(3, member(3), 700.0, 600.0);
    w.clear();
    w.close(2, false);
    for s in [1, 3] {
        assert_eq!(w.take(s), vec![reconnecting("guest-ann")]);
    }
    w.close(1, false);
    assert_eq!(w.take(3), vec![reconnecting("1")]);
    // Nothing more until the grace is over; then the usual leave, naming each the same way.
    w.advance(29_999);
    w.tick();
    assert!(w.take(3).is_empty());
    w.advance(1);
    w.tick();
    let left = w.take_topics(3, &["LEAVE_PLAYER", "PLAYER_PRESENCE"]);
    assert_eq!(
        left,
        vec![
            json!({"topic": "LEAVE_PLAYER", "user_id": "1"}),
            json!({"topic": "LEAVE_PLAYER", "user_id": "guest-ann"}),
        ]
    );
}

#[test]
fn a_player_back_within_the_grace_is_told_online_with_no_leave_or_join() {
    let (mut w, g) = pair();
    w.join(3, member(3), 1500.0, 1100.0);
    w.close(1, false);
    w.clear();
    w.advance(5_000);
    w.connect(11, member(1));
    for s in [2, 3] {
        assert_eq!(w.take(s), vec![online("1")], "only that it is back");
    }
    let back = w.take(11);
    assert_eq!(
        topics(&back),
        ["PLAYERS_SNAPSHOT", "WIRE_PLAYER", "GROUPS_SNAPSHOT"],
        "everyone else is online"
    );
    assert_eq!(back[2], groups_snapshot(&[&g]));
    // A second window is no reconnection: the others were never told it was away.
    w.connect(12, member(1));
    assert!(w.take(2).is_empty() && w.take(3).is_empty());
}

#[test]
fn a_newcomer_learns_after_the_snapshot_who_is_reconnecting() {
    let (mut w, _) = pair();
    w.close(1, false);
    w.clear();
    w.connect(3, guest("ann"));
    let first = w.take(3);
    assert_eq!(topics(&first), ["PLAYERS_SNAPSHOT", "PLAYER_PRESENCE"]);
    assert_eq!(
        first[0]["snapshot"]["1"],
        json!({"x": 600.0, "y": 600.0}),
        "the snapshot is as the original client expects it"
    );
    assert_eq!(first[1], reconnecting("1"));
    w.connect(11, member(1));
    assert_eq!(w.take(3), vec![online("1")]);
    assert_eq!(w.take(11)[0]["snapshot"]["guest-ann"], json!({}));
}

#[test]
fn without_a_grace_a_drop_is_a_leave_with_no_presence() {
    let mut w = World::small_with(|c| c.reconnect_grace_ms = 0);
    w.join(1, member(1), 600.0, 600.0);
    w.join(2, member(2), 1500.0, 1100.0);
    w.clear();
    w.close(1, false);
    assert_eq!(w.take(2), vec![json!({"topic": "LEAVE_PLAYER", "user_id": "1"})]);
}

#[test]
fn events_are_recorded_once_per_session_and_never_for_guests() {
    let mut w = World::small();
    w.connect(1, member(1));
    assert_eq!(events(&w.take_records()), vec![(1, "JOIN_PLAYER")]);
    for _ in 0..3 {
        w.frame(
            1,
            json!({"topic": "JOIN_PLAYER", "position": {"x": IN_C1.0, "y": IN_C1.1}}),
        );
    }
    w.frame(1, join_conference("C1-7"));
    w.frame(1, join_conference("C1-7"));
    assert_eq!(events(&w.take_records()), vec![(1, "JOIN_CONFERENCE")]);
    w.close(1, false);
    w.connect(2, member(1));
    assert!(
        events(&w.take_records()).is_empty(),
        "a reconnection is the same session"
    );
    w.close(2, true);
    assert_eq!(
        events(&w.take_records()),
        vec![(1, "LEAVE_CONFERENCE"), (1, "LEAVE_PLAYER")]
    );
    // A new session records again.
    w.connect(3, member(1));
    assert_eq!(events(&w.take_records()), vec![(1, "JOIN_PLAYER")]);

    w.connect(4, guest("g"));
    w.frame(
        4,
        json!({"topic": "JOIN_PLAYER", "position": {"x": IN_C2.0, "y": IN_C2.1}}),
    );
    w.frame(4, join_conference("C2-7"));
    w.frame(4, json!({"topic": "LEAVE_CONFERENCE", "conference_id": "C2-7"}));
    w.close(4, true);
    assert!(events(&w.take_records()).is_empty(), "guests leave no events");
}

// ----- live changes from the REST API -----

#[test]
fn role_changes_apply_to_live_sessions_at_once() {
    let (mut w, g) = pair();
    let mut quiet = member_role();
    quiet.flags.chat = false;
    quiet.flags.talk = false;
    w.input(Input::RoleUpdated { role: quiet });
    w.frame(1, chat("hi", "ALL"));
    assert_error(&w.take(1), "SEND_MESSAGE");
    let media = w.take_media();
    for p in ["1", "2"] {
        assert!(media.contains(&MediaCommand::Leave {
            rooms: vec![g.clone()],
            peer: p.into()
        }));
    }
    assert_eq!(
        sorted(joins(&media)),
        vec![
            (g.clone(), "1".into(), MediaRole::Listener),
            (g.clone(), "2".into(), MediaRole::Listener)
        ]
    );
    w.frame(1, json!({"topic": "@send-track", "d": {"roomId": g, "kind": "audio"}}));
    assert_error(&w.take(1), "@send-track");
    // One user's role assignment.
    w.input(Input::RoleChanged {
        user_id: "2".into(),
        role: admin_role(),
    });
    w.frame(2, chat("I can talk", "ALL"));
    assert_eq!(topics(&w.take(1)), ["SEND_MESSAGE"]);
    assert_eq!(
        joins(&w.take_media()),
        vec![(g.clone(), "2".into(), MediaRole::Speaker)]
    );
    // Editing a role nobody here holds changes nothing.
    w.input(Input::RoleUpdated {
        role: crowdwire_world::engine::Permissions {
            role_id: 99,
            ..Default::default()
        },
    });
    w.frame(2, chat("still", "ALL"));
    assert_eq!(topics(&w.take(1)), ["SEND_MESSAGE"]);
    w.input(Input::RoleChanged {
        user_id: "nobody".into(),
        role: admin_role(),
    });
}

#[test]
fn evict_and_close_world_send_kicked_and_close() {
    let (mut w, _) = trio_and_a_stranger();
    w.input(Input::Evict {
        user_id: "2".into(),
        reason: "You were banned.".into(),
    });
    assert_eq!(
        w.take(2),
        vec![json!({"topic": "KICKED", "d": {"reason": "You were banned."}})]
    );
    assert_eq!(w.closes.iter().map(|c| c.0).collect::<Vec<_>>(), vec![2]);
    assert_eq!(w.take_topics(4, &["LEAVE_PLAYER"]).len(), 1);
    w.input(Input::Evict {
        user_id: "nobody".into(),
        reason: "x".into(),
    });
    assert!(w.last.is_empty());
    w.close(3, false); // a lingering user is removed as well
    w.clear();
    w.input(Input::CloseWorld {
        reason: "This world is no longer available.".into(),
    });
    for s in [1, 4] {
        assert!(
            w.take(s)
                .contains(&json!({"topic": "KICKED", "d": {"reason": "This world is no longer available."}}))
        );
    }
    let mut closed: Vec<u64> = w.closes.iter().map(|c| c.0).collect();
    closed.sort();
    assert_eq!(closed, vec![1, 4]);
    assert_eq!(w.engine.population(), 0);
    assert!(w.engine.groups().is_empty());
    assert!(w.open.is_empty());
}

// ----- media -----

#[test]
fn speaking_change_emits_both_spellings_to_co_members() {
    let (mut w, g) = trio_and_a_stranger();
    w.frame(
        1,
        json!({"topic": "speaking_change", "d": {"roomId": g, "value": true}}),
    );
    for s in 2..=3 {
        assert_eq!(
            w.take(s),
            vec![
                json!({"topic": "active_speaker", "peerId": "1", "value": true}),
                json!({"topic": "active-speaker", "peerId": "1", "value": true}),
            ]
        );
    }
    assert!(w.take(1).is_empty() && w.take(4).is_empty());
}

#[test]
fn close_media_reaches_co_members_and_the_media_layer() {
    let (mut w, g) = trio_and_a_stranger();
    w.frame(2, json!({"topic": "close-media", "d": {"whatever": 1}}));
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::CloseMedia {
            room: g,
            peer: "2".into()
        }]
    );
    for s in [1, 3] {
        assert_eq!(w.take(s), vec![json!({"topic": "close-media", "peerId": "2"})]);
    }
    assert!(w.take(2).is_empty() && w.take(4).is_empty());
}

#[test]
fn media_signals_are_relayed_only_for_the_senders_rooms_as_the_sender() {
    let (mut w, g) = trio_and_a_stranger();
    w.frame(
        1,
        json!({"topic": "@connect-transport", "d": {"roomId": g, "transportId": "t1", "direction": "send", "peerId": "3"}}),
    );
    assert_eq!(
        w.take_media(),
        vec![MediaCommand::Signal {
            room: g.clone(),
            peer: "1".into(),
            topic: "@connect-transport".into(),
            d: json!({"roomId": g, "transportId": "t1", "direction": "send", "peerId": "1"}),
        }]
    );
    let numeric: u64 = g.parse().unwrap();
    w.frame(
        1,
        json!({"topic": "@get-recv-tracks", "d": {"roomId": numeric, "rtpCapabilities": {}}}),
    );
    assert!(matches!(&w.take_media()[..], [MediaCommand::Signal { room, .. }] if *room == g));
    for bad in [
        json!({"roomId": "999"}),
        json!({"roomId": "C1-7"}),
        json!({}),
        json!({"roomId": true}),
    ] {
        w.frame(1, json!({"topic": "@send-file", "d": bad}));
        assert_error(&w.take(1), "@send-file");
        w.frame(4, json!({"topic": "@send-track", "d": {"roomId": g}}));
        assert_error(&w.take(4), "@send-track");
    }
    assert!(w.take_media().is_empty());
    for s in 1..=4 {
        assert!(w.take(s).is_empty());
    }
}

#[test]
fn media_signals_with_a_non_object_payload_are_refused() {
    // The type cannot hold one, so such a frame fails to parse, and the error names its topic.
    let (mut w, g) = pair();
    w.frame(1, json!({"topic": "@send-track", "d": ["roomId", g]}));
    assert_error(&w.take(1), "@send-track");
    w.frame(1, json!({"topic": "@send-track", "d": "text"}));
    assert_error(&w.take(1), "@send-track");
    assert!(w.take_media().is_empty());
}

#[test]
fn media_layer_messages_are_forwarded_to_their_peer() {
    let (mut w, g) = pair();
    let msg = json!({"topic": "you-joined-as-speaker", "d": {"roomId": g, "peerId": "1", "routerRtpCapabilities": {}}});
    w.input(Input::MediaMessage {
        peer: "1".into(),
        text: msg.to_string(),
    });
    assert_eq!(w.take(1), vec![msg.clone()]);
    assert!(w.take(2).is_empty());
    w.input(Input::MediaMessage {
        peer: "nobody".into(),
        text: msg.to_string(),
    });
    assert!(w.last.is_empty());
}

// ----- the real default map -----

#[test]
fn the_default_map_spawns_walls_and_conferences_work() {
    let map = default_map();
    let c1 = map.conference("C1").expect("the default map has C1").clone();
    let mut w = World::new(
        crowdwire_world::engine::EngineConfig {
            world_id: 42,
            ..World::config()
        },
        map,
    );
    w.connect(1, member(1));
    w.frame(1, json!({"topic": "JOIN_PLAYER"}));
    assert_eq!(
        w.engine.position_of("1"),
        Some(at(50.0, 50.0)),
        "the default spawn point"
    );
    // The border is a wall.
    w.step(1, 50.0, 5.0);
    assert_error(&w.take_topics(1, &["error"]), "PLAYER_MOVEMENT");
    w.step(1, 60.0, 50.0);
    assert_eq!(w.engine.position_of("1"), Some(at(60.0, 50.0)));
    // Spawn a second user inside C1 (the spawn point may be anywhere in the map).
    let (c, r) = c1.tiles[c1.tiles.len() / 2];
    let (bx, by) = (f64::from(c) * 32.0 + 16.0, f64::from(r) * 32.0 + 16.0);
    w.join(2, member(2), bx + 1.0, by - 15.0);
    w.clear();
    w.frame(2, join_conference("C1-7"));
    assert_error(&w.take(2), "JOIN_CONFERENCE");
    w.frame(2, join_conference("C4-42"));
    assert_error(&w.take(2), "JOIN_CONFERENCE");
    w.frame(2, join_conference("C1-42"));
    assert_eq!(w.take_rooms(2), vec![wire(false, &[]), groups_snapshot(&["C1-42"])]);
    w.frame(1, join_conference("C1-42"));
    assert_error(&w.take(1), "JOIN_CONFERENCE");
}

#[test]
fn a_world_restored_on_another_replica_resumes_its_players_in_their_groups_and_conference() {
    // The world as it ran on the replica that died: 1 and 2 in conference C1, 3 and 4 in a
    // proximity group, 5 alone.
    let mut old = World::small();
    old.join(1, member(1), IN_C1.0, IN_C1.1);
    old.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    old.join(3, member(3), 600.0, 600.0);
    old.join(4, member(4), 700.0, 600.0);
    old.join(5, member(5), 1500.0, 1500.0);
    old.frame(1, join_conference("C1-7"));
    old.frame(2, join_conference("C1-7"));
    let carried: Vec<Restored> = ["1", "2", "3", "4", "5"]
        .iter()
        .map(|u| old.engine.restorable(u).expect("present"))
        .collect();
    assert_eq!(carried[0].conference.as_deref(), Some("C1-7"));
    assert_eq!(carried[2].position, Some(at(600.0, 600.0)));
    // Through presence: the record is plain JSON.
    let carried: Vec<Restored> = carried
        .iter()
        .map(|r| serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap())
        .collect();

    let mut new = World::small();
    for r in carried {
        new.input(Input::Restore(Box::new(r)));
    }
    assert_eq!(new.engine.population(), 5);
    assert_eq!(new.engine.online(), 0);
    let g = new
        .group_of("3")
        .expect("3 and 4 are grouped again from their positions");
    assert_eq!(new.group_of("4").as_ref(), Some(&g));
    assert!(new.group_of("1").is_none() && new.group_of("5").is_none());
    new.clear();

    // 3's client reconnects to the new owner: it is resumed, not joined again, and learns
    // that the others are on their way back too.
    new.connect(31, member(3));
    let back = new.take(31);
    assert_eq!(topic(&back[0]), "PLAYERS_SNAPSHOT");
    assert_eq!(back[1..5], ["1", "2", "4", "5"].map(reconnecting));
    assert_eq!(back[5], wire(false, &["4"]));
    assert_eq!(back[6], groups_snapshot(&[&g]));
    // 1 comes back inside its conference, as a listener (member role, no grant).
    new.connect(11, member(1));
    assert_eq!(new.take(31), vec![online("1")]);
    let back = new.take(11);
    assert_eq!(back[4], wire(false, &["2"]));
    assert_eq!(back[5], groups_snapshot(&["C1-7"]));
    assert_eq!(
        joins(&new.take_media()),
        vec![
            (g.clone(), "3".into(), MediaRole::Speaker),
            ("C1-7".into(), "1".into(), MediaRole::Listener)
        ]
    );
    assert!(
        events(&new.take_records()).is_empty(),
        "no second JOIN_PLAYER for a carried-over player"
    );
    // Whoever does not come back within the grace period leaves, once.
    for (s, m) in [(21, 2), (41, 4)] {
        new.connect(s, member(m));
    }
    new.advance(31_000);
    new.tick();
    assert_eq!(new.engine.population(), 4);
    assert_eq!(events(&new.take_records()), vec![(5, "LEAVE_PLAYER")]);
}

/// The world as its first owner ran it (1 and 2 in conference C1, 3 and 4 in a group, 5
/// alone), carried over through presence to a second owner whose media server kept the rooms.
fn taken_over() -> (World, String, World) {
    let mut old = World::small();
    old.join(1, member(1), IN_C1.0, IN_C1.1);
    old.join(2, member(2), IN_C1.0 + 60.0, IN_C1.1);
    old.join(3, member(3), 600.0, 600.0);
    old.join(4, member(4), 700.0, 600.0);
    old.join(5, member(5), 1500.0, 1100.0);
    old.frame(1, join_conference("C1-7"));
    old.frame(2, join_conference("C1-7"));
    let g = old.group_of("3").expect("3 and 4 grouped");
    let mut new = World::small_with(|c| {
        c.first_group_id = (1 << 32) | 1;
        c.media_outlives_owner = true;
    });
    for u in ["1", "2", "3", "4", "5"] {
        let r = old.engine.restorable(u).expect("present");
        let r = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        new.input(Input::Restore(Box::new(r)));
    }
    (old, g, new)
}

#[test]
fn a_world_taken_over_keeps_its_group_ids_and_resumed_sockets_keep_their_calls() {
    let (_, g, mut new) = taken_over();
    assert_eq!(
        new.group_of("3").as_deref(),
        Some(&*g),
        "the group keeps its id (its media room)"
    );
    assert_eq!(new.group_of("4").as_deref(), Some(&*g));
    // Nobody is joined to media while nobody is connected: no client would hear of it.
    assert!(joins(&new.take_media()).is_empty());
    new.clear();
    // 3's socket stayed open on a surviving replica: resumed, it keeps its room (its client
    // holds the transports on the media node) and is told the same groups.
    new.resume(31, member(3));
    let back = new.take(31);
    assert_eq!(back[6], groups_snapshot(&[&g]));
    assert!(!back.iter().any(|m| topic(m) == "CLOSE_ROOM"), "{back:?}");
    // 1's socket was on the replica that died: its client reconnects with nothing, and joins
    // its conference's media afresh.
    new.connect(11, member(1));
    new.resume(21, member(2));
    assert_eq!(
        joins(&new.take_media()),
        vec![("C1-7".into(), "1".into(), MediaRole::Listener)],
        "only the new connection negotiates media again"
    );
    // A group formed later gets an id no earlier owner used.
    new.resume(41, member(4));
    new.resume(51, member(5));
    new.walk_to(51, 700.0, 680.0);
    let later: u64 = new.group_of("5").expect("5 joined 3 and 4").parse().unwrap();
    assert_eq!(later.to_string(), g, "5 joins the existing group");
    new.walk_to(11, 1000.0, 1000.0);
    new.walk_to(21, 1060.0, 1000.0);
    let fresh: u64 = new.group_of("1").expect("1 and 2 grouped").parse().unwrap();
    assert!(fresh > 1 << 32, "{fresh}");
}

#[test]
fn a_pair_kept_together_by_the_hysteresis_stays_grouped_at_a_new_owner() {
    // 3 and 4 met at 100 px, then drifted to 170 px: still one group (the leave radius is
    // 180). A new owner forming groups from positions alone would part them.
    let mut old = World::small();
    old.join(3, member(3), 600.0, 600.0);
    old.join(4, member(4), 700.0, 600.0);
    old.walk_to(4, 770.0, 600.0);
    let g = old.group_of("3").expect("3 and 4 grouped through the hysteresis band");
    assert_eq!(old.group_of("4").as_deref(), Some(&*g));
    old.join(5, member(5), 940.0, 600.0);
    assert_eq!(old.group_of("5"), None, "5 stands 170 px from 4 but never met anyone");
    let mut new = World::small_with(|c| {
        c.first_group_id = (1 << 32) | 1;
        c.media_outlives_owner = true;
    });
    for u in ["3", "4", "5"] {
        let r = old.engine.restorable(u).expect("present");
        new.input(Input::Restore(Box::new(r)));
    }
    assert_eq!(
        new.group_of("3").as_deref(),
        Some(&*g),
        "the pair keeps its group and id"
    );
    assert_eq!(new.group_of("4").as_deref(), Some(&*g));
    assert_eq!(new.group_of("5"), None, "the band keeps pairs, it does not make them");
    // Back to the usual rules after that: 4 walking past the leave radius parts them.
    new.resume(31, member(3));
    new.resume(41, member(4));
    new.walk_to(41, 790.0, 600.0);
    assert_eq!(new.group_of("3"), None);
}

#[test]
fn a_carried_player_no_longer_in_its_old_room_leaves_it_and_its_client_closes_it() {
    let (mut old, g, _) = taken_over();
    // 4 walked away after the last presence write: at the new owner, 3 stands alone.
    let mut new = World::small_with(|c| {
        c.first_group_id = (1 << 32) | 1;
        c.media_outlives_owner = true;
    });
    for u in ["3", "4"] {
        let mut r = old.engine.restorable(u).unwrap();
        if u == "4" {
            r.position = Some(at(1200.0, 600.0));
        }
        new.input(Input::Restore(Box::new(r)));
    }
    old.clear();
    assert_eq!(new.group_of("3"), None);
    new.take_media();
    new.resume(31, member(3));
    let back = new.take(31);
    assert!(back.contains(&close_room(&g)), "{back:?}");
    let left: Vec<_> = new
        .take_media()
        .into_iter()
        .filter(|m| matches!(m, MediaCommand::Leave { rooms, peer } if rooms == &vec![g.clone()] && peer == "3"))
        .collect();
    assert_eq!(left.len(), 1);
    // 4 never comes back: leaving, it is taken out of the old room on the media server too.
    new.advance(31_000);
    new.tick();
    assert!(
        new.take_media()
            .iter()
            .any(|m| matches!(m, MediaCommand::Leave { rooms, peer } if rooms.contains(&g) && peer == "4"))
    );
}

#[test]
fn chat_said_while_someone_was_away_reaches_them_when_they_are_back() {
    let (mut w, _) = pair();
    w.close(2, false);
    w.frame(1, chat("while you were away", "ALL"));
    w.frame(1, chat("near you", "NEARBY"));
    w.take(1);
    w.connect(22, member(2));
    let back = w.take_topics(22, &["SEND_MESSAGE"]);
    let texts: Vec<&str> = back.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["while you were away", "near you"]);
    // Once.
    w.close(22, false);
    w.connect(23, member(2));
    assert!(w.take_topics(23, &["SEND_MESSAGE"]).is_empty());
}

#[test]
fn a_carried_position_may_be_seconds_old_so_the_first_move_from_it_is_not_held_to_walking_speed() {
    let (_, _, mut new) = taken_over();
    new.resume(31, member(3));
    new.clear();
    // 3 walked on for a few seconds while the world moved: 500 px from where presence had it.
    new.step(31, 1100.0, 600.0);
    assert_eq!(new.engine.position_of("3"), Some(at(1100.0, 600.0)));
    assert!(new.take(31).iter().all(|m| topic(m) != "ERROR"));
    // From then on, walking speed applies as ever.
    new.step(31, 1600.0, 600.0);
    assert_eq!(new.engine.position_of("3"), Some(at(1100.0, 600.0)));
}

#[test]
fn a_restore_never_replaces_a_player_already_back_nor_enters_another_worlds_conference() {
    let mut w = World::small();
    w.join(1, member(1), IN_C1.0, IN_C1.1);
    let mut stale = w.engine.restorable("1").unwrap();
    stale.position = Some(at(900.0, 900.0));
    w.input(Input::Restore(Box::new(stale)));
    assert_eq!(w.engine.position_of("1"), Some(at(IN_C1.0, IN_C1.1)));
    assert_eq!(w.engine.online(), 1);
    let foreign = Restored {
        profile: member(2),
        position: Some(at(IN_C1.0, IN_C1.1)),
        conference: Some("C1-8".into()),
        speaker: true,
        group: None,
    };
    w.input(Input::Restore(Box::new(foreign)));
    assert_eq!(w.engine.restorable("2").unwrap().conference, None);
}

#[test]
fn a_lost_media_room_is_joined_again_by_its_members_only() {
    let (mut w, g) = trio_and_a_stranger();
    w.take_media();
    w.input(Input::MediaRoomLost { room: g.clone() });
    let mut rejoined = joins(&w.take_media());
    rejoined.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        rejoined,
        vec![
            (g.clone(), "1".into(), MediaRole::Speaker),
            (g.clone(), "2".into(), MediaRole::Speaker),
            (g.clone(), "3".into(), MediaRole::Speaker)
        ]
    );
    w.input(Input::MediaRoomLost {
        room: "no-such-room".into(),
    });
    assert!(w.take_media().is_empty());
}

/// Feeds one frame to the engine without ending the turn (as the hub does while it takes a
/// batch of inputs), returning its outputs.
fn in_turn(w: &mut World, session: SessionId, v: serde_json::Value) -> Vec<Output> {
    let message = ClientMessage::parse(&v.to_string());
    w.engine.handle(w.clock, Input::Frame { session, message })
}

fn mv(x: f64, y: f64) -> serde_json::Value {
    json!({"topic": "PLAYER_MOVEMENT", "position": {"x": x, "y": y}, "velocity": {"x": 100, "y": 0}})
}

#[test]
fn a_turns_movements_go_out_once_per_mover_at_its_latest_position() {
    let mut w = World::small_with(|c| c.interest_area = (400.0, 400.0));
    w.join(1, member(1), 500.0, 500.0);
    w.join(2, member(2), 600.0, 500.0);
    w.join(3, member(3), 750.0, 500.0); // sees 1 only after 1's second step
    w.clear();
    w.advance(500);
    let first = in_turn(&mut w, 1, mv(520.0, 500.0));
    assert!(
        !first.iter().any(|o| matches!(o, Output::Moves(_))),
        "movements wait for the turn's end: {first:?}"
    );
    w.advance(500);
    in_turn(&mut w, 1, mv(560.0, 500.0));
    in_turn(&mut w, 2, mv(620.0, 500.0));
    let flushed = w.engine.handle(w.clock, Input::Flush);
    let batches: Vec<&MoveBatch> = flushed
        .iter()
        .filter_map(|o| match o {
            Output::Moves(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(batches.len(), 1);
    let b = batches[0];
    let frames: Vec<serde_json::Value> = b
        .frames
        .iter()
        .map(|f| serde_json::from_str(&f.text).unwrap())
        .collect();
    assert_eq!(frames.len(), 2, "one frame per mover: {frames:?}");
    assert_eq!(frames[0]["user_id"], "1");
    assert_eq!(frames[0]["position"]["x"], 560.0, "the latest position only");
    let to: HashMap<SessionId, Vec<u32>> = b.to.iter().cloned().collect();
    assert_eq!(to.len(), b.to.len(), "each receiver named once");
    assert_eq!(to[&2], vec![0], "2 hears 1's latest move");
    assert_eq!(to[&1], vec![1], "1 hears 2");
    assert_eq!(to[&3], vec![0, 1], "3 sees 1 from its second step, and 2");
    // Nothing is left for the next turn.
    assert!(w.engine.handle(w.clock, Input::Flush).is_empty());
}

#[test]
fn a_mover_who_leaves_before_the_turn_ends_is_not_announced_after_leaving() {
    let mut w = World::small();
    w.join(1, member(1), 500.0, 500.0);
    w.join(2, member(2), 600.0, 500.0);
    w.clear();
    w.advance(500);
    in_turn(&mut w, 1, mv(540.0, 500.0));
    let out = w.engine.handle(
        w.clock,
        Input::Closed {
            session: 1,
            clean: true,
        },
    );
    assert!(!out.is_empty());
    let flushed = w.engine.handle(w.clock, Input::Flush);
    assert!(
        !flushed.iter().any(|o| matches!(o, Output::Moves(_))),
        "no movement of a user after its LEAVE_PLAYER: {flushed:?}"
    );
}
