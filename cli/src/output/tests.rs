//! Unit tests of the CLI's output.

use qun_api::NodeEvent;
use serde_json::{Value, json};

use super::*;

/// An event from its JSON.
fn event(v: Value) -> NodeEvent {
    serde_json::from_value(v).unwrap()
}

#[test]
fn join_events_have_lines_and_others_are_skipped() {
    let ev = json!({ "type": "join_requested", "group": "G", "requester": "R", "note": "hi" });
    assert_eq!(
        Out::join_event_line(&event(ev), &GroupLabels::default()).unwrap(),
        "join request for G from R: \"hi\" (qun group approve|reject G R)"
    );
    let ev = json!({
        "type": "join_requested", "group": "G", "requester": "12D3KooWabcdef",
        "requester_name": "小林", "note": "hi\u{1b}[2J\r",
    });
    assert_eq!(
        Out::join_event_line(&event(ev), &GroupLabels::default()).unwrap(),
        "join request for G from 小林 ·abcdef: \"hi\\e[2J\\r\" \
             (qun group approve|reject G 12D3KooWabcdef)"
    );
    let ev = json!({ "type": "joined", "group": "G" });
    assert!(
        Out::join_event_line(&event(ev), &GroupLabels::default())
            .unwrap()
            .starts_with("joined G")
    );
    let ev = json!({ "type": "join_rejected", "group": "G" });
    assert!(
        Out::join_event_line(&event(ev), &GroupLabels::default())
            .unwrap()
            .contains("rejected")
    );
    let ev = json!({ "type": "peer_connected", "peer": "P" });
    assert_eq!(
        Out::join_event_line(&event(ev), &GroupLabels::default()),
        None
    );
}

#[test]
fn watching_every_group_labels_each_line_with_its_group() {
    let mut labels = GroupLabels::new(true);
    let g = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";
    let msg = event(json!({
        "type": "message", "id": "M1", "group": g, "author": "12D3KooWabcdef",
        "timestamp_ms": 0, "logical": 0, "kind": "text", "text": "hi",
    }));
    // Unknown at first: asked for once.
    assert!(labels.missing(&msg));
    assert!(!labels.missing(&msg));
    labels.learn(&[view(json!({ "group": g, "name": "周末爬山群" }))]);
    assert_eq!(labels.prefix(g), "[周末爬山群 ·osgAsU] ");
    let ev = event(json!({ "type": "join_rejected", "group": g }));
    assert_eq!(
        Out::join_event_line(&ev, &labels).unwrap(),
        "your request to join 周末爬山群 ·osgAsU was rejected"
    );
    // A hostile group name is escaped in the label too.
    labels.learn(&[view(
        json!({ "group": g, "name": "x\u{1b}[2J] [00:00] 小林: hi" }),
    )]);
    assert_safe(&labels.prefix(g));
    // One group watched: no label.
    assert_eq!(GroupLabels::new(false).prefix(g), "");
}

const ATTACK: &str = "hi\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}[31mfake\u{1b}[0m\rX\u{202e}z\u{200d}\nY";

/// No byte that a terminal acts on: C0/C1 controls, DEL, bidi and zero-width characters.
fn assert_safe(line: &str) {
    assert!(
        !line.chars().any(qun_protocol::text::is_unsafe),
        "unsafe character in {line:?}"
    );
}

#[test]
fn messages_are_escaped_and_named() {
    let m = json!({
        "kind": "text", "author": "12D3KooWQbDmzHv7a1b2c3", "author_name": "小林\u{202e}",
        "timestamp_ms": 0, "text": ATTACK, "id": "5kQm3x",
    });
    let line = Out::message_line(&view(m));
    assert_safe(&line);
    assert_eq!(
        line,
        "[00:00:00] 小林\\u{202e} ·a1b2c3: hi\\e]0;PWNED\\a\\e[2J\\e[31mfake\\e[0m\\rX\\u{202e}z\\u{200d}\\nY  #5kQm3x"
    );
    // Without a known profile: the id's tail alone.
    let m = json!({ "kind": "join", "author": "12D3KooWQbDmzHv7a1b2c3", "timestamp_ms": 0,
            "text": "joined the group" });
    assert_eq!(
        Out::message_line(&view(m)),
        "[00:00:00] v7a1b2c3 joined the group"
    );
}

#[test]
fn group_info_is_escaped() {
    let g = json!({
        "group": "G", "name": "n\u{1b}]0;x\u{7}", "visibility": "listed", "owner": "OWNER1",
        "description": ATTACK, "tags": ["t\r"], "topic": "T", "epoch": 0,
        "mesh_peers": 0, "topic_peers": 0, "messages": 1, "queued": 0,
        "announcement": { "text": ATTACK, "author": "OWNER1", "timestamp_ms": 0, "id": "M" },
        "members": ["OWNER1", "M2"], "names": { "OWNER1": "Li\u{2066}" },
    });
    let lines = Out::group_info_lines(&view(g));
    for l in &lines {
        assert_safe(l);
    }
    assert!(
        lines.contains(&"owner:       Li\\u{2066} ·OWNER1".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"  M2".to_owned()), "{lines:?}");
}

#[test]
fn who_shows_the_name_and_a_tail() {
    assert_eq!(who("12D3KooWabc123", Some("小林")), "小林 ·abc123");
    assert_eq!(who("12D3KooWabc123", None), "oWabc123");
    assert_eq!(who("ab", Some("x")), "x ·ab");
    // A name that would fake the frame of a line is quoted.
    assert_eq!(
        who(
            "12D3KooWabc123",
            Some("Bhn9tu8p set the announcement: 活动取消")
        ),
        "\"Bhn9tu8p set the announcement: 活动取消\" ·abc123"
    );
    assert_eq!(
        who("12D3KooWabc123", Some("小林 ·DMY6w1：real")),
        "\"小林 ·DMY6w1：real\" ·abc123"
    );
    assert_eq!(
        who("12D3KooWabc123", Some("约翰·史密斯")),
        "\"约翰·史密斯\" ·abc123"
    );
    assert_eq!(who("12D3KooWabc123", Some("a\"b:")), "\"a\\\"b:\" ·abc123");
    assert_eq!(who("", None), "");
}

#[test]
fn a_control_op_in_history_names_its_target_shortly() {
    let target = "12D3KooWDcpdgHDWwXDasaoiC4vMcvHoDPVU8wTMdFcGA7x1XrBW";
    let op = |kind: &str, text: String| qun_api::view::MessageView {
        author: "12D3KooWauthor".into(),
        kind: kind.into(),
        text,
        mentions: vec![target.into()],
        ..qun_api::view::MessageView::default()
    };
    let line = Out::message_line(&op("mute", format!("muted {target} for 7200 s")));
    assert!(
        line.ends_with(&format!(" muted {} for 2 h", short(target))),
        "{line}"
    );
    let line = Out::message_line(&op("role", format!("made {target} admin")));
    assert!(!line.contains(target) && line.ends_with(" admin"), "{line}");
}
