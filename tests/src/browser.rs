//! A real browser for the console's tests: Debian's headless Chromium driven
//! over WebDriver (chromedriver) with fantoccini, on "another computer" (a
//! network namespace). There it is also safe from the host's interfaces
//! coming and going (every deploy makes a Docker bridge), which Chromium
//! answers by failing page loads with ERR_NETWORK_CHANGED. Screenshots go to
//! `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// chromedriver and one browser session.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts controld's
    /// own certificate (the test trusts it the way `lattice` pins it).
    pub async fn start(other: &crate::OtherComputer) -> Self {
        let port = 9515;
        let driver = other
            .command("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--allowed-ips={}", other.host_ip))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver; scripts/prereqs.sh does)");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--ignore-certificate-errors", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps = caps.as_object().cloned().expect("object");
        let url = format!("http://{}:{port}", other.ip);
        let mut client = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Self {
            driver,
            client: client.expect("chromedriver did not start"),
            shots,
            _profile: profile,
        }
    }

    /// Saves a screenshot of the page as `NAME.png`.
    pub async fn shot(&self, name: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.shots.join(format!("{name}.png")), png);
        }
    }

    /// Text of the first element matching `css`, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the text of `css` contains `want` (the page is not reloaded).
    pub async fn wait_text(&self, css: &str, want: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text(css).await;
            if t.contains(want) {
                return t;
            }
            if std::time::Instant::now() > deadline {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let src = self.client.source().await.unwrap_or_default();
                panic!("{css} never showed {want:?} (last: {t:?}) on {url}:\n{src}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fills the input `name` of the form on the page.
    pub async fn fill(&self, name: &str, value: &str) {
        let e = self
            .client
            .find(Locator::Css(&format!("[name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no field {name}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// The path of the current page.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.path().to_string())
            .unwrap_or_default()
    }

    /// The value of a cookie of the current site.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.client
            .get_named_cookie(name)
            .await
            .ok()
            .map(|c| c.value().to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
