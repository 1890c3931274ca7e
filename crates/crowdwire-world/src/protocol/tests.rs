//! Unit tests of parsing and of the shapes the original client reads.

use super::*;

#[test]
fn parses_every_client_topic() {
    let cases = [
        (r#"{"topic":"PING","position":{"x":1,"y":2}}"#, "PING"),
        (r#"{"topic":"PING","position":{}}"#, "PING"),
        (
            r#"{"topic":"PLAYER_MOVEMENT","position":{"x":1,"y":2},"velocity":{"x":0,"y":200}}"#,
            "PLAYER_MOVEMENT",
        ),
        (r#"{"topic":"JOIN_PLAYER","position":{"x":50,"y":50}}"#, "JOIN_PLAYER"),
        (r#"{"topic":"SEND_MESSAGE","text":"hi","to":"ALL"}"#, "SEND_MESSAGE"),
        (r#"{"topic":"WIRE_PLAYER","users_id":["2",3]}"#, "WIRE_PLAYER"),
        (r#"{"topic":"UNWIRE_PLAYER","users_id":[]}"#, "UNWIRE_PLAYER"),
        (
            r#"{"topic":"JOIN_CONFERENCE","conference_id":"C1-4"}"#,
            "JOIN_CONFERENCE",
        ),
        (
            r#"{"topic":"LEAVE_CONFERENCE","conference_id":"C1-4"}"#,
            "LEAVE_CONFERENCE",
        ),
        (
            r#"{"topic":"REQUEST_TO_SPEAK","conference":"C1-4"}"#,
            "REQUEST_TO_SPEAK",
        ),
        (
            r#"{"topic":"PERMISSION_TO_SPEAK","conference":"C1-4","permission":true,"user_requested":"7"}"#,
            "PERMISSION_TO_SPEAK",
        ),
        (r#"{"topic":"close-media"}"#, "close-media"),
        (
            r#"{"topic":"toggle-producer","d":{"kind":"audio","pause":true}}"#,
            "toggle-producer",
        ),
        (
            r#"{"topic":"speaking_change","d":{"roomId":"3","value":true}}"#,
            "speaking_change",
        ),
        (
            r#"{"topic":"@connect-transport","d":{"roomId":"3"}}"#,
            "@connect-transport",
        ),
        (
            r#"{"topic":"ADD_USER_FILES","files":[{"id":1,"name":"a","owner":"2"}]}"#,
            "ADD_USER_FILES",
        ),
        (r#"{"topic":"REMOVE_USER_FILE","file":{"id":1}}"#, "REMOVE_USER_FILE"),
        (r#"{"topic":"REMOVE_ALL_USER_FILES"}"#, "REMOVE_ALL_USER_FILES"),
        (r#"{"topic":"GET_ROOM_USERS_FILES"}"#, "GET_ROOM_USERS_FILES"),
        (
            r#"{"topic":"DOWNLOAD_REQUEST","file":{"owner":"2"}}"#,
            "DOWNLOAD_REQUEST",
        ),
        (
            r#"{"topic":"DENY_DOWNLOAD_REQUEST","d":{"user_id":"3","reason":"no"}}"#,
            "DENY_DOWNLOAD_REQUEST",
        ),
        (
            r#"{"topic":"ACCEPT_DOWNLOAD_REQUEST","d":{"user_id":3,"file":{}}}"#,
            "ACCEPT_DOWNLOAD_REQUEST",
        ),
        (r#"{"topic":"START_DOWNLOAD","d":{"user_id":"2"}}"#, "START_DOWNLOAD"),
        (r#"{"topic":"KICK_PLAYER","user_id":"2","ban":true}"#, "KICK_PLAYER"),
    ];
    for (text, topic) in cases {
        let m = ClientMessage::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(m.topic(), topic);
    }
    assert_eq!(
        ClientMessage::parse(r#"{"topic":"NEW","x":1}"#).unwrap_err(),
        ParseError {
            topic: Some("NEW".into()),
            message: UNKNOWN_TOPIC.into()
        }
    );
}

#[test]
fn malformed_input_is_an_error_value() {
    for text in [
        "",
        "{",
        "[]",
        "3",
        r#"{"no":"topic"}"#,
        r#"{"topic":5}"#,
        r#"{"topic":"PLAYER_MOVEMENT"}"#,
        r#"{"topic":"PLAYER_MOVEMENT","position":{}}"#,
        r#"{"topic":"SEND_MESSAGE","text":5,"to":"ALL"}"#,
        r#"{"topic":"WIRE_PLAYER","users_id":[{"x":1}]}"#,
        r#"{"topic":"@send-track","d":"x"}"#,
        r#"{"topic":"@send-track"}"#,
        r#"["close-media"]"#,
        r#"["PING", {"x": 1, "y": 2}]"#,
        r#"{"topic":"toggle-producer","kind":"audio","pause":true}"#,
    ] {
        assert!(ClientMessage::parse(text).is_err(), "{text} should not parse");
    }
}

#[test]
fn server_messages_have_the_original_shapes() {
    let m = ServerMessage::WirePlayer {
        merge: true,
        ids: vec!["2".into()],
    };
    assert_eq!(m.to_json(), r#"{"topic":"WIRE_PLAYER","merge":true,"ids":["2"]}"#);
    let m = ServerMessage::CloseRoom { group: "4".into() };
    assert_eq!(m.to_json(), r#"{"topic":"CLOSE_ROOM","group":"4"}"#);
    let m = ServerMessage::Kicked {
        d: Reason { reason: "x".into() },
    };
    assert_eq!(m.to_json(), r#"{"topic":"KICKED","d":{"reason":"x"}}"#);
    let m = ServerMessage::ActiveSpeakerHyphen {
        peer_id: "2".into(),
        value: true,
        room_id: None,
    };
    assert_eq!(m.to_json(), r#"{"topic":"active-speaker","peerId":"2","value":true}"#);
    let m = ServerMessage::SendMessage {
        text: "hi".into(),
        to: "NEARBY".into(),
        from: "7".into(),
        date: "09:05".into(),
    };
    assert_eq!(
        m.to_json(),
        r#"{"topic":"SEND_MESSAGE","text":"hi","to":"NEARBY","from":"7","date":"09:05"}"#
    );
    let m = ServerMessage::PlayersSnapshot {
        snapshot: [
            ("2".to_owned(), Some(Position { x: 1.0, y: 2.0 }).into()),
            ("3".to_owned(), None.into()),
        ]
        .into(),
        players_data: Default::default(),
    };
    assert_eq!(
        m.to_json(),
        r#"{"topic":"PLAYERS_SNAPSHOT","snapshot":{"2":{"x":1.0,"y":2.0},"3":{}},"players_data":{}}"#
    );
    assert_eq!(ServerMessage::StartDownload.to_json(), r#"{"topic":"START_DOWNLOAD"}"#);
}

#[test]
fn player_presence_names_the_user_and_the_state() {
    let m = ServerMessage::PlayerPresence {
        user_id: "2".into(),
        state: PresenceState::Reconnecting,
    };
    assert_eq!(
        m.to_json(),
        r#"{"topic":"PLAYER_PRESENCE","user_id":"2","state":"reconnecting"}"#
    );
    let m = ServerMessage::PlayerPresence {
        user_id: "0b7c9a7e-52f4-4a38-9d0b-3c1f7b1f2a55".into(),
        state: PresenceState::Online,
    };
    assert_eq!(
        m.to_json(),
        r#"{"topic":"PLAYER_PRESENCE","user_id":"0b7c9a7e-52f4-4a38-9d0b-3c1f7b1f2a55","state":"online"}"#
    );
}

#[test]
fn fields_the_server_does_not_read_are_ignored_even_on_topics_without_fields() {
    // The original client sends extra fields (a `d` on `GET_ROOM_USERS_FILES`, a room on
    // `close-media`); they must not turn a good message into an error.
    for text in [
        r#"{"topic":"close-media","d":{"roomId":"3"}}"#,
        r#"{"topic":"GET_ROOM_USERS_FILES","d":{"users_id":["2"]}}"#,
        r#"{"topic":"REMOVE_ALL_USER_FILES","x":null}"#,
        r#"{"topic":"PING","position":null,"extra":[1]}"#,
        r#"{"topic":"PLAYER_MOVEMENT","position":{"x":1,"y":2},"velocity":null,"user_id":"9"}"#,
    ] {
        assert!(ClientMessage::parse(text).is_ok(), "{text} should parse");
    }
}

#[test]
fn a_key_given_twice_counts_once_as_before() {
    // The last one wins, as when frames were read into a JSON tree first.
    let m = ClientMessage::parse(r#"{"topic":"SEND_MESSAGE","text":"a","text":"b","to":"ALL"}"#).unwrap();
    assert!(matches!(m, ClientMessage::SendMessage { text, .. } if text == "b"));
}
