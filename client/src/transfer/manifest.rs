//! Manifests (raw bytes with their media type and digest), tags and referrers (the tags
//! list is walked by [`super::pages`]).

use pqreg_spec::Digest;
use pqreg_spec::oci::{ImageIndex, MAX_MANIFEST_LEN, media_types};

use super::Inner;
use super::bounded::{Got, MAX_ERROR_BODY, error_message, transport};
use super::error::{Failure, TransferError, classify_status};
use super::pages::List;
use super::retry::retry;

/// A manifest as fetched: the exact bytes, their media type and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The bytes exactly as the registry sent them.
    pub bytes: Vec<u8>,
    /// The media type (the body's `mediaType`, else sniffed from its structure).
    pub media_type: String,
    /// SHA-256 of `bytes`: checked against the requested digest, or computed for a tag.
    pub digest: Digest,
}

/// The media types a manifest pull accepts.
const ACCEPT: [&str; 4] = [
    media_types::OCI_MANIFEST,
    media_types::OCI_INDEX,
    media_types::DOCKER_MANIFEST,
    media_types::DOCKER_MANIFEST_LIST,
];

/// A tag or a `sha256:` digest.
fn split_reference(reference: &str) -> Result<(Option<&str>, Option<Digest>), TransferError> {
    if reference.contains(':') {
        let d = reference
            .parse::<Digest>()
            .map_err(|e| TransferError::BadReference(reference.to_owned(), e.to_string()))?;
        Ok((None, Some(d)))
    } else {
        Ok((Some(reference), None))
    }
}

/// `repo:tag` or `repo@sha256:…`, as a reference is written.
fn at(repo: &str, reference: &str) -> String {
    // A tag never contains ':'; a digest always does.
    if reference.contains(':') {
        format!("{repo}@{reference}")
    } else {
        format!("{repo}:{reference}")
    }
}

impl Inner {
    pub(crate) async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<FetchedManifest, TransferError> {
        let (tag, want) = split_reference(reference)?;
        let image = self.reference(repo, tag, want.as_ref())?;
        let op = format!("get manifest {}", at(repo, reference));
        let url = self.manifest_url(&image, reference);
        let got = retry(self.opts.retry, &op, |_| async {
            self.bounded_get(&image, &url, &ACCEPT, MAX_MANIFEST_LEN, &op)
                .await
        })
        .await?;
        let (body, announced) = match got {
            Got::Ok(b) => (b.bytes, b.digest_header),
            Got::NotFound(message) => {
                return Err(TransferError::NotFound {
                    op,
                    message: format!("HTTP 404: {}", message.trim()),
                });
            }
        };
        // Checked against the digest asked for, and against the one the registry announces
        // (`Docker-Content-Digest`, sha256 only); the digest handed out is the one computed.
        let digest = Digest::sha256(&body);
        if let Some(said) = announced.and_then(|h| h.trim().parse::<Digest>().ok())
            && said != digest
        {
            return Err(TransferError::mismatch(
                format!("manifest {} (Docker-Content-Digest)", at(repo, reference)),
                &said,
                &digest,
            ));
        }
        if let Some(want) = want
            && want != digest
        {
            return Err(TransferError::mismatch(
                format!("manifest {repo}@{want}"),
                &want,
                &digest,
            ));
        }
        let media_type = media_type_of(&body).ok_or_else(|| TransferError::BadResponse {
            op: op.clone(),
            message: "the manifest has no mediaType and is neither an image manifest nor an index"
                .into(),
        })?;
        Ok(FetchedManifest {
            bytes: body,
            media_type,
            digest,
        })
    }

    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, TransferError> {
        let (tag, by_digest) = split_reference(reference)?;
        let digest = Digest::sha256(bytes);
        if let Some(want) = by_digest
            && want != digest
        {
            return Err(TransferError::mismatch(
                format!("manifest to push as {repo}@{want}"),
                &want,
                &digest,
            ));
        }
        pqreg_spec::oci::check_media_type(media_type)
            .map_err(|e| TransferError::BadReference(media_type.to_owned(), e.to_string()))?;
        let content_type = http::HeaderValue::from_str(media_type)
            .map_err(|e| TransferError::BadReference(media_type.to_owned(), e.to_string()))?;
        let image = self.reference(repo, tag, by_digest.as_ref())?;
        let op = format!("put manifest {}", at(repo, reference));
        let body = bytes::Bytes::copy_from_slice(bytes);
        let url = self.manifest_url(&image, reference);
        // Our own request (oci-client would read an error answer whole): of an error
        // answer at most MAX_ERROR_BODY bytes are read.
        retry(self.opts.retry, &op, |_| async {
            let auth = self
                .authorization(&image, oci_client::RegistryOperation::Push, &op, false)
                .await?;
            let mut req = self
                .http
                .put(&url)
                .header(http::header::CONTENT_TYPE, content_type.clone())
                .body(body.clone());
            if let Some(h) = auth {
                req = req.header(http::header::AUTHORIZATION, h);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| transport(&op, &self.host, e))?;
            match resp.status().as_u16() {
                201 => Ok(()),
                s @ 200..=299 => Err(Failure::Fatal(TransferError::BadResponse {
                    op: op.clone(),
                    message: format!("HTTP {s} where the protocol says 201 Created"),
                })),
                s => {
                    let message = error_message(resp, MAX_ERROR_BODY).await;
                    Err(classify_status(&op, &self.host, s, message))
                }
            }
        })
        .await?;
        Ok(digest)
    }

    pub(crate) async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ImageIndex, TransferError> {
        let image = self.reference(repo, None, Some(digest))?;
        let op = format!("list referrers of {repo}@{digest}");
        let mut url = format!("{}/v2/{repo}/referrers/{digest}", self.base_url(&image));
        if let Some(t) = artifact_type {
            url.push_str("?artifactType=");
            url.push_str(&percent_encode(t));
        }
        let got = retry(self.opts.retry, &op, |_| async {
            self.bounded_get(
                &image,
                &url,
                &[media_types::OCI_INDEX],
                MAX_MANIFEST_LEN,
                &op,
            )
            .await
        })
        .await?;
        let (json, filter) = match got {
            Got::Ok(b) => (b.bytes, false),
            // A registry without the referrers API answers 404: the referrers tag schema
            // (distribution-spec v1.1) holds the list as an index tagged `sha256-<hex>`;
            // no such tag means no referrers. That index is not filtered by the registry.
            Got::NotFound(_) => {
                match self
                    .get_manifest(repo, &format!("sha256-{}", digest.hex()))
                    .await
                {
                    Ok(m) => (m.bytes, true),
                    Err(TransferError::NotFound { .. }) => return Ok(empty_index()),
                    Err(e) => return Err(e),
                }
            }
        };
        let mut index = ImageIndex::from_json(&json).map_err(|e| TransferError::BadResponse {
            op,
            message: format!("the referrers index is not a valid OCI index: {e}"),
        })?;
        if let (true, Some(t)) = (filter, artifact_type) {
            index
                .manifests
                .retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(index)
    }

    /// `scheme://registry` of `image`.
    pub(super) fn base_url(&self, image: &oci_client::Reference) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", image.resolve_registry())
    }

    /// The manifest URL of `image`, named by `reference` (a tag or digest, checked by
    /// [`Inner::reference`]).
    fn manifest_url(&self, image: &oci_client::Reference, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(image),
            image.repository()
        )
    }

    pub(crate) async fn list_tags(&self, repo: &str) -> Result<Vec<String>, TransferError> {
        self.list_names(List::Tags, repo, &format!("list tags of {repo}"))
            .await
    }
}

/// An empty OCI index: the referrers of a manifest nothing refers to.
fn empty_index() -> ImageIndex {
    ImageIndex {
        schema_version: 2,
        media_type: Some(media_types::OCI_INDEX.to_owned()),
        artifact_type: None,
        manifests: Vec::new(),
        subject: None,
        annotations: None,
    }
}

/// `s` with everything but RFC 3986 unreserved characters percent-encoded (a media type
/// in a query string: `+` must not become a space).
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The body's `mediaType`, else what its structure says it is.
fn media_type_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
    }
    if let Ok(Probe {
        media_type: Some(mt),
    }) = serde_json::from_slice::<Probe>(body)
        && pqreg_spec::oci::check_media_type(&mt).is_ok()
    {
        return Some(mt);
    }
    pqreg_spec::oci::sniff_media_type(body).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_field_or_structure() {
        assert_eq!(
            media_type_of(
                br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
            )
            .as_deref(),
            Some(media_types::OCI_INDEX)
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(),
            Some(media_types::OCI_MANIFEST)
        );
        assert_eq!(media_type_of(b"[]"), None);
    }

    #[test]
    fn reference_split() {
        assert_eq!(split_reference("v1").unwrap(), (Some("v1"), None));
        let d = Digest::sha256(b"x");
        assert_eq!(split_reference(&d.to_string()).unwrap(), (None, Some(d)));
        assert!(matches!(
            split_reference("sha512:00"),
            Err(TransferError::BadReference(..))
        ));
    }
}
