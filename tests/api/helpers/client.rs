//! A client that behaves like a browser: a cookie jar kept by the rules browsers follow
//! (`cookie_store`), no redirects followed, and the CSRF token read from the last page's form.

use std::time::Duration;

use actix_web::{
    cookie::Cookie,
    http::{StatusCode, header::HeaderMap},
};
use cookie_store::{CookieStore, RawCookie};
use html5gum::{Token, Tokenizer};
use url::Url;

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The cookies the response set, as the server sent them.
    pub set_cookies: Vec<Cookie<'static>>,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|c| c.name() == name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The CSRF token of the page's form (`<input name="csrf_token" value="...">`).
    pub fn csrf_token(&self) -> Option<String> {
        self.attribute_of("input", ("name", "csrf_token"), "value")
    }

    /// The CSRF token of a form Django rendered (`{% csrf_token %}`).
    pub fn django_csrf_token(&self) -> Option<String> {
        self.attribute_of("input", ("name", "csrfmiddlewaretoken"), "value")
    }

    /// The CSRF token for scripts (`<meta name="csrf-token" content="...">`).
    pub fn meta_csrf_token(&self) -> Option<String> {
        self.attribute_of("meta", ("name", "csrf-token"), "content")
    }

    /// Attribute `wanted` of the first `tag` whose attribute `with.0` is `with.1`.
    fn attribute_of(&self, tag: &str, with: (&str, &str), wanted: &str) -> Option<String> {
        Tokenizer::new(self.body.as_str())
            .flatten()
            .find_map(|token| match token {
                Token::StartTag(start)
                    if start.name == tag.as_bytes()
                        && start
                            .attributes
                            .get(with.0.as_bytes())
                            .map(|v| &v.value[..])
                            == Some(with.1.as_bytes()) =>
                {
                    let value = start.attributes.get(wanted.as_bytes())?;
                    Some(String::from_utf8_lossy(&value.value).into_owned())
                }
                _ => None,
            })
    }
}

/// A visitor: a cookie jar and the last CSRF token seen.
pub struct Browser {
    pub address: String,
    client: awc::Client,
    cookies: CookieStore,
    /// The last form token seen, with the `csrftoken` cookie it was issued for.
    last_csrf: Option<(String, Option<String>)>,
}

impl Browser {
    /// A new visitor of the site at `address`, with an empty cookie jar.
    pub fn at(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            client: awc::Client::builder()
                .disable_redirects()
                .timeout(Duration::from_secs(30))
                .finish(),
            cookies: CookieStore::default(),
            last_csrf: None,
        }
    }

    /// Another tab of the same browser: the same cookies from now on, as a copy.
    pub fn new_tab(&self) -> Self {
        let mut tab = Self::at(&self.address);
        tab.cookies = self.cookies.clone();
        tab
    }

    /// The value of cookie `name` the browser would send.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .get_request_values(&self.url("/"))
            .find(|(cookie, _)| *cookie == name)
            .map(|(_, value)| value.to_owned())
    }

    /// Puts cookie `name` in the jar, as if the site had set it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        let url = self.url("/");
        self.cookies
            .insert_raw(&RawCookie::new(name.to_owned(), value.to_owned()), &url)
            .expect("a cookie the jar takes");
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("sessionid")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.client.get(self.url(path).as_str());
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        let page = self.send(req, None).await;
        if let Some(token) = page.csrf_token().or_else(|| page.meta_csrf_token()) {
            self.last_csrf = Some((token, self.cookie("csrftoken")));
        }
        page
    }

    /// Posts `fields` form-encoded, adding the CSRF token of the last page (fetching `/` first
    /// if no page was seen yet).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    /// Like [`Browser::post`], with extra request headers.
    pub async fn post_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = self.form_with_token(fields).await;
        self.post_raw(path, &body, headers).await
    }

    /// Like [`Browser::post`], asking for JSON.
    pub async fn post_json(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = self.form_with_token(fields).await;
        self.post_raw(path, &body, &[("Accept", "application/json")])
            .await
    }

    /// Posts `body` as a form exactly as given (no token added).
    pub async fn post_raw(&mut self, path: &str, body: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .post(self.url(path).as_str())
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"));
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        self.send(req, Some(body.to_owned())).await
    }

    /// The form token of the last page, fetching `/` when there is none for the current
    /// `csrftoken` cookie (a token is only good with the cookie it came with, which rotates
    /// at login).
    pub async fn csrf(&mut self) -> String {
        let cookie = self.cookie("csrftoken");
        let fresh = matches!(&self.last_csrf, Some((_, issued_for)) if issued_for.is_some() && *issued_for == cookie);
        if !fresh {
            self.get("/").await;
        }
        self.last_csrf.clone().expect("a page with a CSRF token").0
    }

    pub async fn sign_up(&mut self, username: &str, password: &str) -> Page {
        self.post("/signup", &[("username", username), ("password", password)])
            .await
    }

    pub async fn log_in(&mut self, username: &str, password: &str) -> Page {
        self.post("/login", &[("username", username), ("password", password)])
            .await
    }

    /// Logs in as a client at `address` (through a trusted proxy's `X-Forwarded-For`).
    pub async fn log_in_from(&mut self, username: &str, password: &str, address: &str) -> Page {
        self.post_with(
            "/login",
            &[("username", username), ("password", password)],
            &[("X-Forwarded-For", address)],
        )
        .await
    }

    pub async fn comment(&mut self, text: &str) -> Page {
        self.post("/comments", &[("comment", text)]).await
    }

    async fn form_with_token(&mut self, fields: &[(&str, &str)]) -> String {
        let token = self.csrf().await;
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &token));
        encode(&fields)
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.address)).expect("a valid URL")
    }

    async fn send(&mut self, mut req: awc::ClientRequest, body: Option<String>) -> Page {
        let url = Url::parse(&req.get_uri().to_string()).expect("a valid URL");
        let cookies: Vec<String> = self
            .cookies
            .get_request_values(&url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !cookies.is_empty() {
            req = req.insert_header(("Cookie", cookies.join("; ")));
        }
        let mut res = match body {
            Some(body) => req.send_body(body).await,
            None => req.send().await,
        }
        .expect("request sent");
        let raw_set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        for raw in &raw_set_cookies {
            // Refused cookies (a foreign domain, Secure over http) stay out, as in a browser.
            let _ = self.cookies.parse(raw, &url);
        }
        let set_cookies = raw_set_cookies
            .iter()
            .filter_map(|raw| Cookie::parse(raw.clone()).ok())
            .collect();
        let body = res.body().limit(10 << 20).await.expect("body read");
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            set_cookies,
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of `fields`.
pub fn encode(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).expect("string pairs always encode")
}
