//! The web app in a real browser: two daemons (in-process nodes with their API servers)
//! and two headless Chromium sessions driven through chromedriver (WebDriver). Each logs in
//! through its one-time URL; A edits its profile and creates a public group in the page and
//! reads its invite code and QR; B joins by pasting the code; they chat both ways (Chinese
//! included), with a reply and an @mention; a member named `<img src=x onerror=alert(1)>`
//! posts `<script>alert(1)</script>` and both pages show it as text (no element is created,
//! no alert opens); the groups list counts an unread message; B finds a public group by search
//! and joins it; A's stats page draws its charts (age ranges and posts per day from the
//! route); A (the owner) mutes B from the member list,
//! B's page shows the refused send, A pins B's hostile message and reads the moderation log
//! (both shown as text), A removes B (after confirming), and both pages and both daemons agree
//! B is out; a used login URL is refused.
//!
//! Screenshots of the main screens go to `docs/screenshots/` (not with
//! `QUN_NO_SCREENSHOTS=1`; Chinese text needs a CJK font, e.g. Debian's
//! `fonts-wqy-microhei`). Needs `chromium` and `chromedriver` (Debian: `apt-get install
//! chromium chromium-driver`; `.ci/run` installs them). Without them the test says so and
//! passes, unless `QUN_REQUIRE_BROWSER=1` (set by `.ci/run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod webdriver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use qun_api::request::Send;
use qun_api::{ApiFile, Call, Client, CreateGroup, Visibility};
use serde_json::json;
use tempfile::TempDir;
use webdriver::{Driver, Session};

const TOKEN: &str = "web-ui-test-token";
const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_TEXT: &str = "<script>alert(1)</script>";
const CHINESE: &str = "你好，周末去爬山吗？";
/// A phone-sized window.
const PHONE: (u32, u32) = (390, 844);

/// One daemon: a node and its API server on loopback.
struct Daemon {
    addr: SocketAddr,
    client: Client,
}

impl Daemon {
    /// A one-time login URL, as `qun ui` prints it.
    fn login_url(&self) -> String {
        self.client.call(Call::ui_login()).unwrap().url
    }

    fn url(&self, route: &str) -> String {
        format!("http://{}/ui/#/{route}", self.addr)
    }
}

async fn daemon(dir: &Path, boot: Option<&qun_node::Node>) -> (qun_node::Node, Daemon) {
    let mut cfg = qun_node::Config::for_test(dir);
    if let Some(b) = boot {
        common::bootstrap_from(&mut cfg, b).await;
    }
    let node = qun_node::Node::start(cfg).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(qun_node::http::serve(
        node.clone(),
        TOKEN.into(),
        listener,
        std::future::pending(),
    ));
    let client = Client::new(&ApiFile {
        addr: addr.to_string(),
        token: TOKEN.into(),
    });
    (node, Daemon { addr, client })
}

/// Where screenshots go, or `None` when they are not wanted.
fn screenshots() -> Option<PathBuf> {
    if std::env::var_os("QUN_NO_SCREENSHOTS").is_some() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

fn shot(s: &Session, name: &str) {
    if let Some(dir) = screenshots() {
        // A passing notice ("Saved") is not part of the screen.
        s.js("document.getElementById('toast').hidden = true", json!([]));
        s.screenshot(&dir.join(format!("{name}.png")));
    }
}

/// Logs `s` in through `d`'s one-time URL and waits for the app.
fn log_in(s: &Session, d: &Daemon) {
    s.goto(&d.login_url());
    s.wait(
        "the app",
        "return document.body.dataset.ready === '1'",
        json!([]),
    );
}

/// Waits until a message with exactly `text` is shown in the chat.
fn wait_message(s: &Session, text: &str) {
    s.wait(
        &format!("message {text:?}"),
        "return [...document.querySelectorAll('.msg .text')].some(e => e.textContent === arguments[0])",
        json!([text]),
    );
}

/// Sends `text` from the chat composer.
fn say(s: &Session, text: &str) {
    s.type_in("#composer-text", text);
    s.click("#composer-send");
    wait_message(s, text);
}

/// No element was made from peer text anywhere in the page, and no alert opened (an open
/// alert makes WebDriver refuse the script).
fn assert_no_markup_from_peers(s: &Session) {
    let made = s.js(
        "return document.querySelectorAll('script:not([src]), img[src=\"x\"], img:not(.qr), [onerror]').length",
        json!([]),
    );
    assert_eq!(made, json!(0), "an element was created from peer text");
}

fn set_profile(s: &Session, name: &str, gender: &str, year: &str) {
    s.click("#nav-profile");
    s.type_in("#profile-name", name);
    s.select("#profile-gender", gender);
    s.type_in("#profile-birth-year", year);
    s.click("#profile-save");
    s.wait(
        "the profile saved",
        "return !document.getElementById('toast').hidden",
        json!([]),
    );
}

#[test]
fn two_people_chat_in_the_browser() {
    if !webdriver::installed("chromedriver") || !webdriver::installed("chromium") {
        assert!(
            std::env::var_os("QUN_REQUIRE_BROWSER").is_none(),
            "QUN_REQUIRE_BROWSER is set but chromium or chromedriver is not installed"
        );
        println!("skipped: chromium and chromedriver are not installed");
        return;
    }
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir::new().unwrap();
    let ((node_a, a), (_node_b, b)) = rt.block_on(async {
        let (na, a) = daemon(&dir.path().join("a"), None).await;
        let (nb, b) = daemon(&dir.path().join("b"), Some(&na)).await;
        ((na, a), (nb, b))
    });
    let driver = Driver::start();
    let sa = driver.session(&dir.path().join("chrome-a"), "en-US", PHONE);
    let sb = driver.session(&dir.path().join("chrome-b"), "zh-CN", PHONE);
    log_in(&sa, &a);
    log_in(&sb, &b);
    assert_eq!(
        sb.js(
            "return document.getElementById('nav-groups').textContent",
            json!([])
        ),
        json!("群聊")
    );

    // Profiles, edited in the page: B's name is hostile.
    set_profile(&sa, "小红", "female", "1995");
    set_profile(&sb, HOSTILE_NAME, "male", "1988");

    // A creates a public group and reads its invite code and QR.
    sa.click("#nav-new");
    sa.type_in("#new-name", "周末爬山");
    sa.type_in("#new-description", "每周六早上出发");
    sa.type_in("#new-tags", "爬山, hiking");
    sa.select("#new-visibility", "public");
    sa.click("#new-submit");
    let code = sa.wait(
        "the invite code",
        "const e = document.getElementById('invite-code'); return e && e.value",
        json!([]),
    );
    let code = code.as_str().unwrap().to_owned();
    assert!(code.starts_with("qun"), "{code}");
    sa.wait("the QR code", "const q = document.getElementById('invite-qr'); return q && q.complete && q.naturalWidth > 0", json!([]));

    // B joins by pasting the code.
    sb.click("#nav-join");
    sb.type_in("#join-code", &code);
    sb.click("#join-submit");
    sb.wait(
        "B's chat",
        "return document.getElementById('composer-text') !== null",
        json!([]),
    );
    assert_eq!(
        sb.js(
            "return document.getElementById('title').textContent",
            json!([])
        ),
        json!("周末爬山")
    );
    sa.click("#open-chat");

    // Both ways, Chinese included.
    say(&sa, "Hello from A!");
    wait_message(&sb, "Hello from A!");
    say(&sb, CHINESE);
    wait_message(&sa, CHINESE);

    // Hostile input is shown as text.
    say(&sb, HOSTILE_TEXT);
    wait_message(&sa, HOSTILE_TEXT);
    assert_no_markup_from_peers(&sa);
    assert_no_markup_from_peers(&sb);

    // A right-to-left override is shown, not obeyed (no "txt.exe" posing as "exe.txt").
    sb.type_in("#composer-text", "abc\u{202e}txt.exe");
    sb.click("#composer-send");
    wait_message(&sb, "abc\\u{202e}txt.exe");
    wait_message(&sa, "abc\\u{202e}txt.exe");

    // B replies to A's message; A sees the quote.
    sb.js(
        "const m = [...document.querySelectorAll('.msg')].find(e => e.querySelector('.text')?.textContent === arguments[0]); \
         m.querySelector('button.reply').click()",
        json!(["Hello from A!"]),
    );
    say(&sb, "好呀");
    sa.wait(
        "the reply's quote",
        "return [...document.querySelectorAll('.msg')].some(e => e.querySelector('.text')?.textContent === '好呀' \
         && e.querySelector('.quote') && e.querySelector('.quote').textContent.endsWith('Hello from A!'))",
        json!([]),
    );
    // A mentions B through the suggestions under "@"; B's page highlights it.
    sa.type_in("#composer-text", "周六见 @");
    sa.wait(
        "a mention suggestion for B",
        "const b = [...document.querySelectorAll('#mention-suggest button')].find(e => e.textContent === '@' + arguments[0]); \
         if (b) b.click(); return !!b",
        json!([HOSTILE_NAME]),
    );
    sa.click("#composer-send");
    let mention = format!("周六见 @{HOSTILE_NAME}");
    wait_message(&sa, mention.trim_end());
    sb.wait(
        "the mention highlighted for B",
        "return [...document.querySelectorAll('.msg.mentioned .mention')].some(e => e.textContent === '@' + arguments[0])",
        json!([HOSTILE_NAME]),
    );
    assert_no_markup_from_peers(&sa);
    assert_no_markup_from_peers(&sb);
    // The owner sets the announcement; both pages show the banner.
    sa.click("#set-announcement");
    sa.answer_prompt("周六早上 7 点在地铁站集合");
    for s in [&sa, &sb] {
        s.wait(
            "the announcement banner",
            "const b = document.getElementById('banner'); return !b.hidden && b.textContent.endsWith(arguments[0])",
            json!(["周六早上 7 点在地铁站集合"]),
        );
    }
    shot(&sa, "chat");
    sb.click("#to-members");
    sb.wait(
        "B's own name in the member list, as text",
        "return [...document.querySelectorAll('.member .name')].some(e => e.textContent.startsWith(arguments[0]))",
        json!([HOSTILE_NAME]),
    );
    assert_no_markup_from_peers(&sb);

    // The groups list counts what A has not read.
    sa.click("#nav-groups");
    sa.wait(
        "A's groups list",
        "return document.querySelector('.group-row') !== null",
        json!([]),
    );
    sb.click("#back");
    say(&sb, "还有谁来？");
    sa.wait(
        "an unread badge",
        "const b = document.querySelector('.badge.unread'); return b && b.textContent === '1'",
        json!([]),
    );
    shot(&sa, "groups");

    // B finds another public group by search and joins it.
    let other = CreateGroup {
        name: "读书会".into(),
        description: "每月读一本书".into(),
        tags: vec!["读书".into(), "books".into()],
        visibility: Visibility::Public,
    };
    let created = a.client.call(Call::create_group(&other)).unwrap();
    a.client.call(Call::announce_discovery()).unwrap();
    sb.click("#nav-search");
    sb.type_in("#search-q", "books");
    let start = Instant::now();
    loop {
        sb.click("#search-go");
        let found = sb.wait(
            "search results",
            "if (document.getElementById('search-go').disabled) return false; \
             const names = [...document.querySelectorAll('#search-results .hit .name')]; \
             return names.some(e => e.textContent === '读书会') ? 'hit' : 'none'",
            json!([]),
        );
        if found == json!("hit") {
            break;
        }
        assert!(
            start.elapsed() < webdriver::DEADLINE,
            "search never found 读书会"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    shot(&sb, "search");
    sb.click(&format!(".hit[data-group='{}'] button.join", created.group));
    sb.wait(
        "the joined group's chat",
        "return document.getElementById('title').textContent === '读书会'",
        json!([]),
    );

    // A's stats page draws its charts.
    let group = node_a_group(&a, "周末爬山");
    sa.goto(&a.url(&format!("stats/{group}")));
    sa.wait("the charts", "return document.querySelectorAll('#chart-gender svg, #chart-age svg, #chart-activity svg').length === 3", json!([]));
    // Six age ranges and 30 days of posts, from the route, one bar each.
    let bars = sa.js(
        "return [document.querySelectorAll('#chart-age svg rect').length, document.querySelectorAll('#chart-activity svg rect').length]",
        json!([]),
    );
    assert_eq!(bars, json!([6, 30]));
    let stats = a.client.call(Call::stats(&group)).unwrap();
    assert_eq!(stats.ages.len(), 6);
    let aged: usize = stats.ages.iter().map(|b| b.members).sum();
    assert_eq!(aged, stats.age_based_on);
    assert_eq!(stats.posts_per_day.len(), 30);
    let posts: usize = stats.posts_per_day.iter().map(|d| d.posts).sum();
    assert!(posts >= 7, "{:?}", stats.posts_per_day);
    // The screenshot shows the age and activity charts.
    sa.js(
        "document.getElementById('chart-age').scrollIntoView()",
        json!([]),
    );
    shot(&sa, "stats");

    // An admin mutes and removes a member from the page.
    moderate(&a, &b, &sa, &sb, &group);

    // A used login URL is refused, even to another browser.
    let url = a.login_url();
    sa.goto(&url);
    sb.goto(&url);
    sb.wait(
        "the refusal",
        "return document.body.textContent.includes('used or has expired')",
        json!([]),
    );
    sa.quit();
    sb.quit();
    drop(driver);
    rt.block_on(async { node_a.shutdown().await.unwrap() });
    println!("browser test took {:.1} s", started.elapsed().as_secs_f64());
}

/// The id of `a`'s group named `name`.
fn node_a_group(a: &Daemon, name: &str) -> String {
    a.client.call(Call::group_info(name)).unwrap().group
}

/// Opens the moderation panel of the member list's row `row` (unless it is open).
fn open_panel(s: &Session, row: &str) {
    s.wait(
        "the moderation panel",
        "const p = document.querySelector(arguments[0] + ' .mod-panel'); if (!p) return false; \
         if (p.hidden) document.querySelector(arguments[0] + ' button.manage').click(); return !p.hidden",
        json!([row]),
    );
}

/// Whether the chat offers an admin's buttons (the announcement, pin or unpin).
const ADMIN_BUTTONS: &str = "return !document.getElementById('set-announcement').hidden \
    || document.querySelectorAll('.msg button.pin-toggle:not([hidden])').length > 0";
/// Clicks the element `arguments[0]` once it is shown; whether it did.
const CLICK_VISIBLE: &str = "const b = document.querySelector(arguments[0]); \
    if (!b || !b.offsetParent) return false; b.click(); return true";

/// The row of member `id` in the member list, as a CSS selector.
fn member_row(id: &str) -> String {
    format!("#members .member[data-author='{id}']")
}

/// A `send` from B's daemon is refused with 403 (and `rule` in its text, when given).
fn assert_send_refused(d: &Daemon, group: &str, rule: Option<&str>) {
    let sent = d.client.call(Call::send(
        group,
        &Send {
            text: "还能发吗？".into(),
            reply_to: None,
            mentions: vec![],
        },
    ));
    match sent {
        Err(qun_api::Error::Api(e)) => {
            assert_eq!(e.status, 403, "{e:?}");
            assert!(rule.is_none_or(|r| e.message.contains(r)), "{e:?}");
        }
        other => panic!("a send that breaks {rule:?} was not refused: {other:?}"),
    }
}

/// A (the owner) mutes B from the member list; B's send is refused in B's page; A pins B's
/// hostile message and reads the moderation log; A removes B after confirming; both pages and
/// both daemons show B out.
fn moderate(a: &Daemon, b: &Daemon, sa: &Session, sb: &Session, group: &str) {
    let b_id = b.client.call(Call::id()).unwrap().peer_id;
    let row = member_row(&b_id);

    // B, a member, is offered no moderation action, not even on itself.
    sb.goto(&b.url(&format!("members/{group}")));
    sb.wait(
        "B's member list",
        "return document.querySelector(arguments[0]) !== null",
        json!([row]),
    );
    assert_eq!(
        sb.js(
            "return document.querySelectorAll('#members button.manage').length",
            json!([])
        ),
        json!(0)
    );
    sb.goto(&b.url(&format!("chat/{group}")));
    wait_message(sb, HOSTILE_TEXT);
    assert_eq!(sb.js(ADMIN_BUTTONS, json!([])), json!(false));

    // A makes B an admin from the page (the group info shows the epoch): B's open chat
    // offers an admin's buttons; A makes B a member again.
    sa.goto(&a.url(&format!("members/{group}")));
    let epoch = a.client.call(Call::group_info(group)).unwrap().epoch;
    sa.wait(
        "the epoch",
        "return document.querySelector('#group-epoch b')?.textContent === arguments[0]",
        json!([epoch.to_string()]),
    );
    open_panel(sa, &row);
    sa.click(&format!("{row} .act-admin"));
    sa.wait(
        "B shown admin",
        "return document.querySelector(arguments[0] + ' .role.admin') !== null",
        json!([row]),
    );
    sb.wait("an admin's buttons for B", ADMIN_BUTTONS, json!([]));
    // The panel stays open across the redraw.
    sa.wait(
        "the make-member button",
        CLICK_VISIBLE,
        json!([format!("{row} .act-member")]),
    );
    sa.wait(
        "B shown member",
        "return document.querySelector(arguments[0] + ' .role.member') !== null",
        json!([row]),
    );
    sb.wait(
        "no admin's buttons for B",
        &format!("return !(function() {{ {ADMIN_BUTTONS} }})()"),
        json!([]),
    );

    // Mute for an hour, from A's member list.
    sa.goto(&a.url(&format!("members/{group}")));
    open_panel(sa, &row);
    sa.select(&format!("{row} .mute-for"), "3600");
    sa.click(&format!("{row} .act-mute"));
    sa.wait(
        "B shown muted",
        "return document.querySelector(arguments[0] + ' .state.muted') !== null",
        json!([row]),
    );
    let info = a.client.call(Call::group_info(group)).unwrap();
    assert!(
        info.muted
            .iter()
            .any(|m| m.member == b_id && m.until_ms.is_some()),
        "{:?}",
        info.muted
    );

    // B's page says so, and B's send is refused there with the rule's reason.
    sb.wait("B's muted notice", "const s = document.getElementById('standing'); return !s.hidden && s.textContent.includes('禁言')", json!([]));
    // The op in B's (Chinese) chat: a sentence with B's hostile name, as text.
    sb.wait(
        "the mute in B's chat",
        "return [...document.querySelectorAll('.msg.system[data-kind=mute]')].some(e => e.textContent.endsWith('禁言了 ' + arguments[0] + ' 1 小时'))",
        json!([HOSTILE_NAME]),
    );
    assert_no_markup_from_peers(sb);
    sb.type_in("#composer-text", "我被禁言了吗？");
    sb.click("#composer-send");
    sb.wait(
        "B's refused send",
        "const e = document.getElementById('composer-error'); return !e.hidden && e.textContent.includes('muted')",
        json!([]),
    );
    assert_send_refused(b, group, Some("muted"));

    // A pins B's hostile message; both pages list it, as text.
    sa.goto(&a.url(&format!("chat/{group}")));
    sa.wait(
        "the pin button on B's message",
        "const m = [...document.querySelectorAll('.msg')].find(e => e.querySelector('.text')?.textContent === arguments[0]); \
         const b = m && m.querySelector('button.pin-toggle'); if (b) b.click(); return !!b",
        json!([HOSTILE_TEXT]),
    );
    for s in [sa, sb] {
        s.wait(
            "the pinned message",
            "return [...document.querySelectorAll('#pins .pin-text')].some(e => e.textContent.endsWith(arguments[0]))",
            json!([HOSTILE_TEXT]),
        );
        assert_no_markup_from_peers(s);
    }
    let info = a.client.call(Call::group_info(group)).unwrap();
    assert_eq!(info.pins.len(), 1);

    // The moderation log names B (a hostile name) as text.
    sa.goto(&a.url(&format!("log/{group}")));
    sa.wait(
        "the mute in the log",
        "return [...document.querySelectorAll('.log-entry[data-kind=mute] .target')].some(e => e.textContent === '→ ' + arguments[0])",
        json!([HOSTILE_NAME]),
    );
    assert_no_markup_from_peers(sa);
    shot(sa, "log");

    // A removes B, after confirming.
    sa.goto(&a.url(&format!("members/{group}")));
    open_panel(sa, &row);
    sa.click(&format!("{row} .act-remove"));
    sa.wait(
        "the confirm step",
        "const c = document.querySelector(arguments[0] + ' .confirm'); return c && !c.hidden",
        json!([row]),
    );
    assert_no_markup_from_peers(sa);
    shot(sa, "moderation");
    sa.click(&format!("{row} .confirm-yes"));
    sa.wait(
        "B gone from A's list",
        "return document.querySelector(arguments[0]) === null",
        json!([row]),
    );
    let info = a.client.call(Call::group_info(group)).unwrap();
    assert!(!info.members.contains(&b_id), "{:?}", info.members);

    // B's page and daemon agree: B is out, and B's send is refused.
    sb.wait(
        "B's removed notice",
        "const s = document.getElementById('standing'); return !s.hidden && s.textContent.includes('移出') \
         && document.getElementById('composer-send').disabled",
        json!([]),
    );
    let info = b.client.call(Call::group_info(group)).unwrap();
    assert!(!info.members.contains(&b_id), "{:?}", info.members);
    // (The rule's name is left open: how a removed member is refused may change with
    // re-keying.)
    assert_send_refused(b, group, None);
}
