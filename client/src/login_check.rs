//! `pqreg login` checks credentials against the registry before storing them, the way
//! `docker login` does: `GET /v2/`, then Basic or the bearer-token flow (spec/auth.md §4.2)
//! as the registry's challenge says.

use std::time::Duration;

/// What the registry said of the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// The registry asks for no credentials at all.
    Open,
    /// Accepted.
    Accepted,
    /// Refused, with the registry's message.
    Refused(String),
}

/// The parameters of a `WWW-Authenticate` challenge: scheme and `key="value"` pairs.
pub(crate) fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    (scheme.to_ascii_lowercase(), params)
}

/// The most bytes read of an answer: a token, or an error whose message is shown. A
/// registry (or token service) answering with more is refused, not read to the end.
const MAX_ANSWER: usize = 64 << 10;

/// `r`'s body, or `None` once it is longer than [`MAX_ANSWER`] (the rest is not read).
async fn body(mut r: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        if out.len() + chunk.len() > MAX_ANSWER {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

async fn message(r: reqwest::Response) -> String {
    let status = r.status();
    let body: serde_json::Value = match body(r).await {
        Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    body["errors"][0]["message"]
        .as_str()
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

async fn check_async(host: &str, user: &str, password: &str) -> Result<LoginCheck, reqwest::Error> {
    let scheme = if crate::transfer::is_loopback(host) {
        "http"
    } else {
        "https"
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("pqreg/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let base = format!("{scheme}://{host}/v2/");
    let r = http.get(&base).send().await?;
    if r.status().is_success() {
        return Ok(LoginCheck::Open);
    }
    let challenge = r
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(challenge) = challenge else {
        return Ok(LoginCheck::Refused(format!(
            "GET {base} answered {} without a challenge",
            r.status()
        )));
    };
    let (scheme, params) = parse_challenge(&challenge);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if scheme == "bearer" {
        let Some(realm) = param("realm") else {
            return Ok(LoginCheck::Refused(
                "the registry's Bearer challenge has no realm".into(),
            ));
        };
        let mut q = vec![("account", user.to_owned())];
        if let Some(s) = param("service") {
            q.push(("service", s));
        }
        let r = http
            .get(&realm)
            .query(&q)
            .basic_auth(user, Some(password))
            .send()
            .await?;
        if !r.status().is_success() {
            return Ok(LoginCheck::Refused(message(r).await));
        }
        let Some(body) = body(r).await? else {
            return Ok(LoginCheck::Refused(format!(
                "the token service's answer is longer than {MAX_ANSWER} bytes"
            )));
        };
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return Ok(LoginCheck::Refused(
                "the token service's answer is not JSON".into(),
            ));
        };
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .unwrap_or_default()
            .to_owned();
        let r = http.get(&base).bearer_auth(token).send().await?;
        if r.status().is_success() {
            Ok(LoginCheck::Accepted)
        } else {
            Ok(LoginCheck::Refused(message(r).await))
        }
    } else {
        let r = http
            .get(&base)
            .basic_auth(user, Some(password))
            .send()
            .await?;
        if r.status().is_success() {
            Ok(LoginCheck::Accepted)
        } else {
            Ok(LoginCheck::Refused(message(r).await))
        }
    }
}

/// Checks `user`/`password` against the registry at `host` (`host[:port]`; plain HTTP on
/// loopback only). A transport failure is an error: nothing was learned.
pub fn check(host: &str, user: &str, password: &str) -> Result<LoginCheck, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(check_async(host, user, password))
        .map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::parse_challenge;

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:5000/auth/token",service="pqreg-registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(
            p[0],
            ("realm".into(), "http://127.0.0.1:5000/auth/token".into())
        );
        assert_eq!(p[1], ("service".into(), "pqreg-registry".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
        let (s, p) = parse_challenge(r#"Basic realm="pqreg-registry",charset="UTF-8""#);
        assert_eq!(s, "basic");
        assert_eq!(p.len(), 2);
    }
}
