//! The CLI's HTTP client for the daemon's local API.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use qun_node::api::ApiFile;
use serde_json::Value;

const NOT_RUNNING: &str = "the daemon is not running: start it with `qun daemon`";

/// A connection to one daemon.
pub struct Client {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

/// Percent-encodes one path segment or query value.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Finds the daemon of `data_dir`.
    pub fn connect(data_dir: &Path) -> anyhow::Result<Client> {
        let file = ApiFile::read(data_dir)
            .map_err(|_| anyhow!("{NOT_RUNNING} (no API file in {})", data_dir.display()))?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(3))
            .build();
        Ok(Client {
            base: format!("http://{}", file.addr),
            auth: format!("Bearer {}", file.token),
            agent,
        })
    }

    fn handle(res: Result<ureq::Response, ureq::Error>) -> anyhow::Result<Value> {
        match res {
            Ok(r) => r.into_json().context("reading the daemon's answer"),
            Err(ureq::Error::Status(code, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                let msg = v
                    .get("error")
                    .and_then(|e| e.as_str())
                    .unwrap_or("request failed");
                Err(anyhow!("{msg} (HTTP {code})"))
            }
            Err(ureq::Error::Transport(_)) => Err(anyhow!(NOT_RUNNING)),
        }
    }

    /// GET a path.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        Self::handle(
            self.agent
                .get(&format!("{}{path}", self.base))
                .set("Authorization", &self.auth)
                .call(),
        )
    }

    /// POST JSON to a path.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Self::handle(
            self.agent
                .post(&format!("{}{path}", self.base))
                .set("Authorization", &self.auth)
                .send_json(body.clone()),
        )
    }

    /// DELETE a path.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        Self::handle(
            self.agent
                .delete(&format!("{}{path}", self.base))
                .set("Authorization", &self.auth)
                .call(),
        )
    }

    /// Follows a Server-Sent Events stream, calling `f` with each event's JSON.
    pub fn stream(
        &self,
        path: &str,
        mut f: impl FnMut(Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let res = self
            .agent
            .get(&format!("{}{path}", self.base))
            .set("Authorization", &self.auth)
            .set("Accept", "text/event-stream")
            .call();
        let resp = match res {
            Ok(r) => r,
            Err(e) => return Self::handle(Err(e)).map(|_| ()),
        };
        let reader = std::io::BufReader::new(resp.into_reader());
        for line in reader.lines() {
            let line = line.context("event stream closed")?;
            if let Some(data) = line.strip_prefix("data:") {
                let v: Value =
                    serde_json::from_str(data.trim()).context("bad event from daemon")?;
                f(v)?;
            }
        }
        Ok(())
    }
}
