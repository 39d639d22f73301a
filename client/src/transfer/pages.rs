//! Paged name lists: a repository's tags (`GET /v2/<name>/tags/list`, OCI
//! distribution-spec end-8) and the registry's catalog (`GET /v2/_catalog`, distribution's
//! extension), walked page by page with a limit on every page and on the whole walk.
//!
//! A registry (or anything on the path) may refuse service, never exhaust the memory of
//! the client that lists (DESIGN.md threat model), so:
//!
//! - each page is read with [`Inner::bounded_get`], at most [`MAX_PAGE_LEN`] bytes;
//! - the walk stops with an error past [`MAX_NAMES`] names or [`MAX_PAGES`] pages, so a
//!   registry that pages without end cannot make the client collect (or ask) without end;
//! - a page's `Link: <…>; rel="next"` is followed only to the same list on the same
//!   registry (the request carries the registry's credentials); without one the next page
//!   is asked for with `last=` (the name the previous page ended with);
//! - names come in byte order after `last`: names at or before it are dropped, and a page
//!   that adds none ends the walk (a registry that ignores `last`, or links to the same
//!   page again, cannot loop).

use super::Inner;
use super::bounded::Got;
use super::error::TransferError;
use super::retry::retry;

/// Names asked for per page (`n=`).
const PAGE: usize = 1000;

/// The most bytes of one page: 1000 names of at most 255 characters, with room to spare.
pub(crate) const MAX_PAGE_LEN: usize = 1 << 20;

/// The most names one list may have; a longer one is an error, not a truncated list.
pub(crate) const MAX_NAMES: usize = 1 << 16;

/// The most pages one walk reads (65,536 names at 64 a page).
pub(crate) const MAX_PAGES: usize = 1 << 10;

/// Which list is walked.
#[derive(Clone, Copy)]
pub(crate) enum List {
    /// The registry's repositories (`/v2/_catalog`, field `repositories`).
    Catalog,
    /// A repository's tags (`/v2/<name>/tags/list`, field `tags`).
    Tags,
}

impl List {
    fn field(self) -> &'static str {
        match self {
            List::Catalog => "repositories",
            List::Tags => "tags",
        }
    }
}

impl Inner {
    /// Every name of `list` (for [`List::Tags`], of `repo`'s; for [`List::Catalog`],
    /// `repo` only locates the registry), in the registry's order.
    pub(crate) async fn list_names(
        &self,
        list: List,
        repo: &str,
        op: &str,
    ) -> Result<Vec<String>, TransferError> {
        let image = self.reference(repo, None, None)?;
        let base = self.base_url(&image);
        let path = match list {
            List::Catalog => "/v2/_catalog".to_owned(),
            List::Tags => format!("/v2/{}/tags/list", image.repository()),
        };
        let bad = |message: String| TransferError::BadResponse {
            op: op.to_owned(),
            message,
        };
        let mut url = format!("{base}{path}?n={PAGE}");
        let mut all: Vec<String> = Vec::new();
        for _ in 0..MAX_PAGES {
            let got = retry(self.opts.retry, op, |_| async {
                self.bounded_get(&image, &url, &["application/json"], MAX_PAGE_LEN, op)
                    .await
            })
            .await?;
            let body = match got {
                Got::Ok(b) => b,
                Got::NotFound(message) => {
                    return Err(TransferError::NotFound {
                        op: op.to_owned(),
                        message: format!("HTTP 404: {}", message.trim()),
                    });
                }
            };
            let names = page_names(&body.bytes, list.field()).map_err(bad)?;
            let last = all.last().cloned();
            let before = all.len();
            all.extend(
                names
                    .into_iter()
                    .filter(|t| last.as_deref().is_none_or(|l| t.as_str() > l)),
            );
            if all.len() == before {
                return Ok(all);
            }
            if all.len() > MAX_NAMES {
                return Err(bad(format!(
                    "the registry lists more than {MAX_NAMES} {}, pqreg's limit",
                    list.field()
                )));
            }
            url = match body.link.as_deref().and_then(next_link) {
                Some(next) => same_list(&base, &path, next).map_err(bad)?,
                None => {
                    let l = all.last().map(String::as_str).unwrap_or_default();
                    format!(
                        "{base}{path}?n={PAGE}&last={}",
                        super::manifest::percent_encode(l)
                    )
                }
            };
        }
        Err(bad(format!(
            "the {} list did not end after {MAX_PAGES} pages, pqreg's limit",
            list.field()
        )))
    }
}

/// The names in one page: `{"<field>": [...]}` (a missing or `null` field is no names).
fn page_names(body: &[u8], field: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the {field} list is not valid JSON: {e}"))?;
    match v.get(field) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("the {field} list holds a non-string: {n}"))
            })
            .collect(),
        Some(other) => Err(format!("\"{field}\" is not a list: {other}")),
    }
}

/// The target of the `rel="next"` link of a `Link` header (RFC 8288), if there is one.
fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let tail = &after[close + 1..];
        let (params, next) = tail.split_at(tail.find('<').unwrap_or(tail.len()));
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
        rest = next;
    }
    None
}

/// The absolute URL of `link` if it names `path` (any query) on the registry at `base`
/// (`scheme://host`): an absolute path, or an absolute URL of the same scheme and host.
/// Anything else would send the registry's credentials elsewhere, or ask for another
/// list: an error, not a truncated walk.
fn same_list(base: &str, path: &str, link: &str) -> Result<String, String> {
    let local = if link.starts_with('/') && !link.starts_with("//") {
        Some(link)
    } else {
        link.get(..base.len())
            .filter(|b| b.eq_ignore_ascii_case(base))
            .map(|_| &link[base.len()..])
            .filter(|rest| rest.starts_with('/'))
    };
    let local = local.ok_or_else(|| {
        format!(
            "its next-page link {link:?} leaves the registry; pqreg follows links only to {base}"
        )
    })?;
    let link_path = &local[..local.find(['?', '#']).unwrap_or(local.len())];
    if link_path != path || local.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(format!(
            "its next-page link {link:?} is not a page of {path}"
        ));
    }
    Ok(format!("{base}{local}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_finds_rel_next() {
        assert_eq!(
            next_link(r#"</v2/_catalog?n=2&last=b>; rel="next""#),
            Some("/v2/_catalog?n=2&last=b")
        );
        assert_eq!(
            next_link(
                r#"<https://r/prev>; rel="prev", <https://r/v2/x/tags/list?last=a>; rel=next"#
            ),
            Some("https://r/v2/x/tags/list?last=a")
        );
        assert_eq!(next_link(r#"</a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("<unclosed; rel=next"), None);
    }

    #[test]
    fn links_are_followed_only_to_the_same_list_on_the_same_registry() {
        let base = "http://127.0.0.1:5000";
        let path = "/v2/_catalog";
        assert_eq!(
            same_list(base, path, "/v2/_catalog?n=10&last=a").unwrap(),
            "http://127.0.0.1:5000/v2/_catalog?n=10&last=a"
        );
        assert_eq!(
            same_list(base, path, "HTTP://127.0.0.1:5000/v2/_catalog?last=a").unwrap(),
            "http://127.0.0.1:5000/v2/_catalog?last=a"
        );
        for bad in [
            "//evil.example/v2/_catalog",
            "https://127.0.0.1:5000/v2/_catalog",
            "http://127.0.0.1:50001/v2/_catalog",
            "http://127.0.0.1:5000.evil/v2/_catalog",
            "http://127.0.0.1:5000@evil/v2/_catalog",
            "v2/_catalog",
            "/v2/models/x/manifests/latest",
            "/v2/_catalog/../x",
            "/v2/_catalog?n=1 2",
        ] {
            assert!(same_list(base, path, bad).is_err(), "{bad} was followed");
        }
    }

    #[test]
    fn pages_parse_strictly() {
        assert_eq!(
            page_names(br#"{"tags":["a","b"]}"#, "tags").unwrap(),
            ["a", "b"]
        );
        assert!(page_names(br#"{"tags":null}"#, "tags").unwrap().is_empty());
        assert!(page_names(br#"{"name":"x"}"#, "tags").unwrap().is_empty());
        assert!(page_names(br#"{"tags":[1]}"#, "tags").is_err());
        assert!(page_names(br#"{"tags":"a"}"#, "tags").is_err());
        assert!(page_names(br#"{"repositories":["a""#, "repositories").is_err());
    }
}
