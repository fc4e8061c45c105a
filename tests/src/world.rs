//! Everything a sync test needs, wired together: a fake Plane, Radicale
//! behind a counting proxy, and the host serving the built-in guest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::caldav_server::{CalDavServer, Kind};
use crate::counting_proxy::CountingProxy;
use crate::fake_plane::{self, FakePlane};
use crate::host::{Host, HostOptions, client, test_dir};

pub const CALDAV_USER: &str = "alice";
pub const WEB_URL: &str = "https://app.plane.test";

pub struct World {
    pub plane: FakePlane,
    /// Shared with other worlds started [`Setup::on`] it.
    pub caldav: Arc<CalDavServer>,
    pub proxy: CountingProxy,
    pub host: Option<Host>,
    pub options: HostOptions,
    pub server: Server,
    pub dir: tempfile::TempDir,
}

/// What serves the guest.
#[derive(Clone, Default)]
pub enum Server {
    /// The `calplanebot` host with its built-in guest.
    #[default]
    Bundled,
    /// `wasmtime serve` with the guest's `wasmtime-serve` build; `config`
    /// moves these variables from the environment to `wasi:config`.
    WasmtimeServe { config: Vec<String> },
}

impl Server {
    fn launch(&self, dir: &std::path::Path, options: &HostOptions) -> anyhow::Result<Host> {
        match self {
            Server::Bundled => Host::start(dir, options),
            Server::WasmtimeServe { config } => {
                let (moved, kept): (Vec<_>, Vec<_>) = options
                    .env
                    .iter()
                    .cloned()
                    .partition(|(k, _)| config.contains(k));
                let options = HostOptions {
                    env: kept,
                    ..options.clone()
                };
                // wasi:config names are lower case by convention; the guest
                // reads them case-insensitively.
                let moved: Vec<_> = moved
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                Host::start_wasmtime_serve(
                    dir,
                    &crate::components::guest_wasmtime_serve(),
                    &options,
                    &moved,
                )
            }
        }
    }
}

/// How to start a [`World`] beyond the defaults.
#[derive(Clone)]
pub struct Setup {
    pub kind: Kind,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// A CalDAV server already running (another world's): both services
    /// then write into one account.
    pub caldav: Option<Arc<CalDavServer>>,
    /// The fake Plane's workspace slug (and `PLANE_WORKSPACE_SLUG`).
    pub workspace: String,
    /// The path of `CALDAV_URL` on the proxy.
    pub caldav_path: String,
    /// The host's file-descriptor limit ([`HostOptions::nofile`]).
    pub nofile: Option<u64>,
    pub server: Server,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            kind: Kind::Radicale,
            env: Vec::new(),
            args: Vec::new(),
            caldav: None,
            workspace: fake_plane::WORKSPACE.to_string(),
            caldav_path: "/".to_string(),
            nofile: None,
            server: Server::Bundled,
        }
    }
}

impl Setup {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn on(mut self, caldav: &Arc<CalDavServer>) -> Self {
        self.caldav = Some(caldav.clone());
        self
    }

    pub fn workspace(mut self, slug: &str) -> Self {
        self.workspace = slug.to_string();
        self
    }

    pub fn caldav_path(mut self, path: &str) -> Self {
        self.caldav_path = path.to_string();
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    pub fn nofile(mut self, limit: u64) -> Self {
        self.nofile = Some(limit);
        self
    }

    pub fn server(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    pub fn start(self) -> World {
        World::start_setup(self)
    }
}

impl World {
    /// Against Radicale.
    pub fn start(extra: &[(&str, &str)]) -> World {
        Self::start_with(Kind::Radicale, extra)
    }

    pub fn start_with(kind: Kind, extra: &[(&str, &str)]) -> World {
        Self::start_with_args(kind, extra, &[])
    }

    /// With extra `calplanebot serve` options.
    pub fn start_with_args(kind: Kind, extra: &[(&str, &str)], args: &[&str]) -> World {
        Self::start_setup(Setup {
            kind,
            env: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Setup::default()
        })
    }

    pub fn start_setup(setup: Setup) -> World {
        let plane = FakePlane::start_for(&setup.workspace);
        let caldav = setup.caldav.clone().unwrap_or_else(|| {
            Arc::new(CalDavServer::start(setup.kind).expect("CalDAV server starts"))
        });
        let proxy = CountingProxy::start(caldav.port);
        let mut options = HostOptions::default()
            .env("PLANE_BASE_URL", plane.url())
            .env("PLANE_API_TOKEN", fake_plane::TOKEN)
            .env("PLANE_WORKSPACE_SLUG", setup.workspace.clone())
            .env("PLANE_WEB_URL", WEB_URL)
            .env("CALDAV_URL", proxy.url(&setup.caldav_path))
            .env("CALDAV_USERNAME", CALDAV_USER)
            .env("CALDAV_PASSWORD", "not-checked-by-radicale")
            .env("ENABLE_SYNC", "false")
            // Tests trigger many syncs a minute from one address.
            .env("RATE_LIMIT_SYNC_PER_HOUR", "10000");
        for (key, value) in &setup.env {
            options = options.env(key, value.clone());
        }
        for arg in &setup.args {
            options = options.arg(arg.clone());
        }
        options.nofile = setup.nofile;
        let dir = test_dir("sync");
        let host = setup
            .server
            .launch(dir.path(), &options)
            .expect("host starts");
        World {
            plane,
            caldav,
            proxy,
            host: Some(host),
            options,
            server: setup.server,
            dir,
        }
    }

    pub fn host(&self) -> &Host {
        self.host.as_ref().expect("host running")
    }

    /// Points the service straight at the CalDAV server, without the
    /// counting proxy (for timing), and restarts the host.
    pub fn bypass_proxy(&mut self) {
        self.options = self.options.clone().env("CALDAV_URL", self.caldav.url());
        self.restart_host();
    }

    pub fn restart_host(&mut self) {
        self.host = None;
        self.host = Some(
            self.server
                .launch(self.dir.path(), &self.options)
                .expect("host restarts"),
        );
    }

    /// Restarts the host on an empty store: a lost disk, or a new replica.
    pub fn restart_host_with_an_empty_store(&mut self) {
        self.host = None;
        let data = self.dir.path().join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).expect("the store removed");
        }
        self.host = Some(
            self.server
                .launch(self.dir.path(), &self.options)
                .expect("host restarts"),
        );
    }

    pub fn get_json(&self, path: &str) -> Value {
        client()
            .get(self.host().url(path))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// Triggers a sync and returns the trigger's response body.
    pub fn trigger(&self) -> (u16, Value) {
        let response = client()
            .post(self.host().url("/webhooks/sync"))
            .send()
            .unwrap();
        (response.status().as_u16(), response.json().unwrap())
    }

    pub fn wait_until_idle(&self) -> Value {
        self.wait_until_idle_within(Duration::from_secs(300))
    }

    pub fn wait_until_idle_within(&self, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.get_json("/webhooks/status");
            if status["status"] != "running" {
                return status;
            }
            assert!(Instant::now() < deadline, "sync did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs one sync to its end and returns `/webhooks/status`.
    pub fn sync(&self) -> Value {
        let (status, body) = self.trigger();
        assert_eq!(status, 200, "{body}");
        self.wait_until_idle()
    }

    /// Like [`World::sync`], counting only that sync's CalDAV requests.
    pub fn sync_counted(&self) -> Value {
        self.proxy.reset();
        self.sync()
    }

    fn dav(&self, method: &str, path: &str, depth: &str, body: &str) -> String {
        let response = client()
            .request(
                method.parse().unwrap(),
                format!("{}{}", self.caldav.url(), path.trim_start_matches('/')),
            )
            .basic_auth(CALDAV_USER, Some("x"))
            .header("depth", depth)
            .header("content-type", "application/xml")
            .body(body.to_string())
            .send()
            .unwrap();
        response.text().unwrap()
    }

    /// Display names of the user's calendars, read straight from the server.
    pub fn calendar_names(&self) -> Vec<(String, String)> {
        let body = self.dav(
            "PROPFIND",
            self.caldav.home_path(),
            "1",
            r#"<propfind xmlns="DAV:"><prop><displayname/><resourcetype/></prop></propfind>"#,
        );
        let document = roxmltree::Document::parse(&body).unwrap();
        document
            .descendants()
            .filter(|n| n.tag_name().name() == "response")
            .filter(|r| r.descendants().any(|n| n.tag_name().name() == "calendar"))
            .map(|r| {
                let text = |name: &str| {
                    r.descendants()
                        .find(|n| n.tag_name().name() == name)
                        .and_then(|n| n.text())
                        .unwrap_or("")
                        .to_string()
                };
                (text("href"), text("displayname"))
            })
            .collect()
    }

    /// Every event of a project's calendar as (href, iCalendar text),
    /// read straight from the server.
    pub fn events(&self, project_id: &str) -> Vec<(String, String)> {
        self.events_at(&self.calendar_path(project_id))
    }

    /// Where the service puts a project's calendar.
    pub fn calendar_path(&self, project_id: &str) -> String {
        format!("{}plane-{project_id}/", self.caldav.home_path())
    }

    /// Stores an event straight into the server (as a calendar client would).
    pub fn put_event(&self, path: &str, ics: &str) -> u16 {
        client()
            .put(format!(
                "{}{}",
                self.caldav.url(),
                path.trim_start_matches('/')
            ))
            .basic_auth(CALDAV_USER, Some("x"))
            .header("content-type", "text/calendar")
            .body(ics.to_string())
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The UID the service gives a work item's event.
pub fn uid(item_id: &str) -> String {
    format!("plane-issue-{item_id}@calplanebot")
}

impl World {
    /// The event of a work item in its project's calendar, if there is one.
    pub fn event_of(&self, project_id: &str, item_id: &str) -> Option<String> {
        let uid = uid(item_id);
        self.events(project_id)
            .into_iter()
            .find(|(_, ics)| property(ics, "UID").as_deref() == Some(uid.as_str()))
            .map(|(_, ics)| ics)
    }
}

/// The value of a property in iCalendar text, unfolded and unescaped.
pub fn property(ics: &str, name: &str) -> Option<String> {
    let unfolded = ics.replace("\r\n ", "").replace("\n ", "");
    unfolded.lines().find_map(|line| {
        let line = line.trim_end_matches('\r');
        let (head, value) = line.split_once(':')?;
        let prop = head.split(';').next()?;
        (prop == name).then(|| {
            value
                .replace("\\n", "\n")
                .replace("\\,", ",")
                .replace("\\;", ";")
                .replace("\\\\", "\\")
        })
    })
}

/// The raw content line (name and parameters included) of a property.
pub fn content_line(ics: &str, name: &str) -> Option<String> {
    let unfolded = ics.replace("\r\n ", "").replace("\n ", "");
    unfolded
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| l.split([':', ';']).next() == Some(name))
        .map(str::to_string)
}

impl World {
    /// Every event of every calendar of the user as (href, iCalendar
    /// text), read straight from the server.
    pub fn all_events(&self) -> Vec<(String, String)> {
        self.calendar_names()
            .into_iter()
            .flat_map(|(href, _)| self.events_at(&href))
            .collect()
    }

    /// Every event of the calendar at `path`, read straight from the server.
    pub fn events_at(&self, path: &str) -> Vec<(String, String)> {
        let body = self.dav(
            "REPORT",
            path,
            "1",
            r#"<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#,
        );
        let Ok(document) = roxmltree::Document::parse(&body) else {
            return Vec::new();
        };
        document
            .descendants()
            .filter(|n| n.tag_name().name() == "response")
            .filter_map(|r| {
                let href = r
                    .descendants()
                    .find(|n| n.tag_name().name() == "href")?
                    .text()?
                    .to_string();
                let data = r
                    .descendants()
                    .find(|n| n.tag_name().name() == "calendar-data")?
                    .text()?
                    .to_string();
                Some((href, data))
            })
            .collect()
    }

    /// The status of a plain GET of `path`, straight from the server.
    pub fn get_status(&self, path: &str) -> u16 {
        client()
            .get(format!(
                "{}{}",
                self.caldav.url(),
                path.trim_start_matches('/')
            ))
            .basic_auth(CALDAV_USER, Some("x"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    /// The folder in which Radicale keeps a project's calendar, one file
    /// per event, named as the event's href.
    pub fn storage_dir(&self, project_id: &str) -> PathBuf {
        let root = self
            .caldav
            .storage_root()
            .expect("a server that keeps one file per event");
        self.calendar_path(project_id)
            .trim_matches('/')
            .split('/')
            .fold(root, |dir, part| dir.join(part))
    }

    /// Writes an event file straight into the server's storage, bypassing
    /// every check the server makes on an upload (a second href for one
    /// UID, characters it would refuse): what another tool, a restored
    /// backup or a server bug can leave behind.
    pub fn plant_file(&self, project_id: &str, name: &str, ics: &str) {
        let dir = self.storage_dir(project_id);
        assert!(dir.is_dir(), "no calendar folder {}", dir.display());
        // Written aside and renamed, so that the server never reads half a file.
        let aside = dir.join(format!(".planting-{name}"));
        std::fs::write(&aside, ics).expect("event file written");
        std::fs::rename(&aside, dir.join(name)).expect("event file moved in place");
    }

    pub fn remove_file(&self, project_id: &str, name: &str) {
        std::fs::remove_file(self.storage_dir(project_id).join(name)).expect("event file removed");
    }

    /// The event files of a project's calendar as (file name, text), read
    /// from the server's storage: readable even when the server can no
    /// longer produce valid XML for the calendar.
    pub fn stored_files(&self, project_id: &str) -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir(self.storage_dir(project_id)) else {
            return Vec::new();
        };
        let mut files: Vec<(String, String)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if name.starts_with('.') {
                    return None;
                }
                Some((name, std::fs::read_to_string(e.path()).ok()?))
            })
            .collect();
        files.sort();
        files
    }
}

/// An href with its percent-escapes decoded (`%40` → `@`).
pub fn decode_href(href: &str) -> String {
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
