//! `qun ui [--open]`: a one-time login URL for the web app that the daemon serves, printed
//! and, with `--open`, opened in the desktop's browser.
//!
//! The URL (`http://127.0.0.1:PORT/ui/login?token=…`) works once, within two minutes; the
//! browser that opens it gets a session cookie for the app until the daemon stops.

use std::process::{Command, Stdio};

use qun_api::{Call, Client};

use crate::outln;
use crate::output::{Out, s};

/// The programs that open a URL in the desktop's browser, tried in turn.
const OPENERS: [&str; 2] = ["xdg-open", "open"];

/// Asks the daemon for a login URL, prints it, and opens it when `open`.
pub fn run(c: &Client, out: &Out, open: bool) -> anyhow::Result<()> {
    let login = c.call(Call::ui_login())?;
    if out.json {
        out.json(&login)?;
    } else {
        outln!("{}", s(&login.url))?;
    }
    if open && !open_url(&login.url) {
        eprintln!("no xdg-open or open found: open the URL above in a browser (within 2 minutes)");
    }
    Ok(())
}

/// Starts the first opener that exists on `url`; `false` if none could start.
fn open_url(url: &str) -> bool {
    OPENERS.iter().any(|prog| {
        Command::new(prog)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .is_ok()
    })
}
