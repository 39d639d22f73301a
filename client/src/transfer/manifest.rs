//! Manifests (raw bytes with their media type and digest), tags and referrers.

use oci_client::errors::OciDistributionError;
use pqreg_spec::Digest;
use pqreg_spec::oci::{ImageIndex, MAX_MANIFEST_LEN, media_types};

use super::Inner;
use super::error::{Failure, TransferError, classify};
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

/// Tags asked for per page of the tags list.
const TAGS_PAGE: usize = 1000;

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
        let (body, _) = retry(self.opts.retry, &op, |_| async {
            self.oci
                .pull_manifest_raw(&image, &self.auth, &ACCEPT)
                .await
                .map_err(|e| classify(&op, &self.host, e))
        })
        .await?;
        if body.len() > MAX_MANIFEST_LEN {
            return Err(TransferError::BadResponse {
                op,
                message: format!("manifest of {} bytes is over the 4 MiB limit", body.len()),
            });
        }
        // oci-client checked the digest already; check it with our own type too, so the
        // digest we hand out is the one we computed.
        let digest = Digest::sha256(&body);
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
            bytes: body.to_vec(),
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
        retry(self.opts.retry, &op, |_| async {
            self.oci
                .push_manifest_raw(&image, body.clone(), content_type.clone())
                .await
                .map(|_| ())
                .map_err(|e| classify(&op, &self.host, e))
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
        let index = retry(self.opts.retry, &op, |_| async {
            self.oci
                .pull_referrers(&image, artifact_type)
                .await
                .map_err(|e| classify(&op, &self.host, e))
        })
        .await?;
        // oci-client's index type to ours (strictly checked) through its JSON form.
        let json = serde_json::to_vec(&index).map_err(|e| TransferError::BadResponse {
            op: op.clone(),
            message: e.to_string(),
        })?;
        ImageIndex::from_json(&json).map_err(|e| TransferError::BadResponse {
            op,
            message: format!("the referrers index is not a valid OCI index: {e}"),
        })
    }

    pub(crate) async fn list_tags(&self, repo: &str) -> Result<Vec<String>, TransferError> {
        let image = self.reference(repo, None, None)?;
        let op = format!("list tags of {repo}");
        let mut all: Vec<String> = Vec::new();
        loop {
            let last = all.last().cloned();
            let page = retry(self.opts.retry, &op, |_| async {
                match self
                    .oci
                    .list_tags(&image, &self.auth, Some(TAGS_PAGE), last.as_deref())
                    .await
                {
                    Ok(p) => Ok(p.tags),
                    Err(e) => Err(classify_tags(&op, &self.host, e)),
                }
            })
            .await?;
            // Tags come in byte order after `last`; a page that does not advance ends the
            // walk (and guards against a registry that ignores `last`).
            let fresh: Vec<String> = page
                .into_iter()
                .filter(|t| last.as_deref().is_none_or(|l| t.as_str() > l))
                .collect();
            if fresh.is_empty() {
                return Ok(all);
            }
            all.extend(fresh);
        }
    }
}

fn classify_tags(op: &str, host: &str, e: OciDistributionError) -> Failure {
    classify(op, host, e)
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
