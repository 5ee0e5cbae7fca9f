//! A small WebDriver client for the browser test: WebDriver is HTTP and JSON, so a few
//! calls over ureq (already in the tree) drive chromedriver. Only what the test needs:
//! sessions, navigation, elements (find, click, type), scripts and screenshots.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long a wait for the page lasts before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver, stopped when dropped.
pub struct Driver {
    base: String,
    agent: ureq::Agent,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `prog` is on the PATH.
pub fn installed(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(prog).is_file()))
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it is ready.
    pub fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let d = Driver {
            base: format!("http://127.0.0.1:{port}"),
            agent,
            child,
        };
        let start = Instant::now();
        while d.agent.get(&format!("{}/status", d.base)).call().is_err() {
            assert!(start.elapsed() < DEADLINE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// A new browser (headless Chromium, `width`×`height`, language `lang`) with its own
    /// profile directory.
    pub fn session(&self, profile: &Path, lang: &str, (width, height): (u32, u32)) -> Session {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--lang={lang}"),
            format!("--window-size={width},{height}"),
        ];
        args.push("--hide-scrollbars".into());
        // Headless Chromium keeps windows at least 500 px wide: emulate the phone's screen.
        let mut chrome = json!({
            "args": args,
            "prefs": { "intl.accept_languages": lang },
            "mobileEmulation": { "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1 } },
        });
        if Path::new("/usr/bin/chromium").exists() {
            chrome["binary"] = json!("/usr/bin/chromium");
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
        } } });
        let v = send(
            &self.agent,
            "POST",
            &format!("{}/session", self.base),
            Some(caps),
        );
        let id = v["sessionId"].as_str().expect("a session id").to_owned();
        Session {
            base: format!("{}/session/{id}", self.base),
            agent: self.agent.clone(),
        }
    }
}

/// Sends one WebDriver command; its `value`, or a panic with the driver's error.
fn send(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
    let req = agent.request(method, url);
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => r.into_json::<Value>().unwrap()["value"].take(),
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "WebDriver {method} {url}: {code} {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("WebDriver {method} {url}: {e}"),
    }
}

/// One browser.
pub struct Session {
    base: String,
    agent: ureq::Agent,
}

impl Session {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        send(&self.agent, method, &format!("{}{path}", self.base), body)
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and gives its result.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Waits until `script` returns something truthy; gives it. Panics after [`DEADLINE`]
    /// with `what` and the page's text.
    pub fn wait(&self, what: &str, script: &str, args: Value) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script, args.clone());
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if start.elapsed() > DEADLINE {
                let page = self.js("return document.body.innerText", json!([]));
                panic!("timed out waiting for {what}; the page shows:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the element `css` and gives its reference.
    fn find(&self, css: &str) -> String {
        self.wait(
            &format!("element {css}"),
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        );
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Clicks the element `css` (once it is there).
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Types `text` into the element `css`, as keystrokes.
    pub fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Sets a `<select>`'s value.
    pub fn select(&self, css: &str, value: &str) {
        self.find(css);
        self.js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
             s.dispatchEvent(new Event('change'));",
            json!([css, value]),
        );
    }

    /// Answers the open `window.prompt` with `text`.
    pub fn answer_prompt(&self, text: &str) {
        let start = Instant::now();
        loop {
            let res = self.agent.get(&format!("{}/alert/text", self.base)).call();
            if res.is_ok() {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "no prompt opened");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.cmd("POST", "/alert/text", Some(json!({ "text": text })));
        self.cmd("POST", "/alert/accept", Some(json!({})));
    }

    /// Writes a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session (closes the browser).
    pub fn quit(self) {
        drop(self);
    }
}

impl Drop for Session {
    /// Closes the browser, also when the test fails (chromedriver's end would leave it).
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
    }
}
