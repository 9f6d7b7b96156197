//! The web console as a plain HTTP client sees it: cookies kept, redirects not followed.

use reqwest::StatusCode;

use super::Daemon;
use super::forms::{Jar, hidden, no_redirects};

/// A browser without JavaScript on the console: a cookie jar, no redirects followed.
pub struct Console {
    pub c: reqwest::Client,
    pub base: String,
    pub jar: Jar,
}

impl Console {
    pub fn new(d: &Daemon) -> Console {
        Console {
            c: no_redirects(),
            base: d.admin_url(),
            jar: Jar::default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        let r = self
            .c
            .get(format!("{}{path}", self.base))
            .header("cookie", self.jar.header())
            .send()
            .await
            .unwrap();
        self.jar.take(&r);
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (status, r.text().await.unwrap(), location)
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Vec<String>) {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .header("cookie", self.jar.header())
            .form(form)
            .send()
            .await
            .unwrap();
        let cookies = self.jar.take(&r);
        (r.status(), r.text().await.unwrap_or_default(), cookies)
    }

    /// Signs in as `name`; returns the session's CSRF token.
    pub async fn sign_in(&mut self, d: &Daemon, name: &str) -> String {
        let (status, html, _) = self.get("/console/login").await;
        assert_eq!(status, 200);
        let login_csrf = hidden(&html, "csrf_login");
        let (status, _, cookies) = self
            .post(
                "/console/login",
                &[
                    ("name", name),
                    ("token", &d.admin_token()),
                    ("csrf_login", &login_csrf),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let session = cookies
            .iter()
            .find(|c| c.starts_with("licd_console="))
            .expect("a session cookie");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
            assert!(session.contains(attr), "{session} lacks {attr}");
        }
        let (status, html, _) = self.get("/console/").await;
        assert_eq!(status, 200, "{html}");
        hidden(&html, "csrf")
    }
}
