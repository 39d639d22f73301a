//! Listing and deleting: the registry's catalog (`GET /v2/_catalog`, all pages) and
//! manifest or tag deletion (`DELETE /v2/<name>/manifests/<reference>`, OCI
//! distribution-spec "Deleting manifests", end-9). oci-client has no delete, so the
//! request is sent with reqwest, carrying the bearer token oci-client obtained for a
//! push to the repository, or the Basic credential when the registry takes those.

use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;

use super::error::{Failure, TransferError, classify};
use super::retry::retry;
use super::{Inner, RegistryClient};

/// Repositories asked for per catalog page.
const CATALOG_PAGE: usize = 1000;

impl RegistryClient {
    /// Every repository of the registry, in the registry's order (all pages).
    pub fn catalog(&self) -> Result<Vec<String>, TransferError> {
        self.rt.block_on(self.inner.catalog())
    }

    /// Deletes `reference` (a tag, or `sha256:<hex>` for the manifest and every tag on it)
    /// from `repo`.
    pub fn delete_manifest(&self, repo: &str, reference: &str) -> Result<(), TransferError> {
        self.rt
            .block_on(self.inner.delete_manifest(repo, reference))
    }
}

impl Inner {
    async fn catalog(&self) -> Result<Vec<String>, TransferError> {
        // The catalog is not per repository; oci-client still wants a reference to find
        // the registry, so any valid name does.
        let image = self.reference("catalog", None, None)?;
        let op = "list the registry's repositories".to_owned();
        let mut all: Vec<String> = Vec::new();
        loop {
            let last = all.last().cloned();
            let page = retry(self.opts.retry, &op, |_| async {
                match self
                    .oci
                    .catalog(&image, &self.auth, Some(CATALOG_PAGE), last.as_deref())
                    .await
                {
                    Ok(p) => Ok(p.repositories),
                    Err(e) => Err(classify(&op, &self.host, e)),
                }
            })
            .await?;
            // Names come in byte order after `last`; a page that does not advance ends
            // the walk (and guards against a registry that ignores `last`).
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

    async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<(), TransferError> {
        let image = self.reference(repo, None, None)?;
        let op = format!("delete {repo}:{reference}");
        let token = self
            .oci
            .auth(&image, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|e| match classify(&op, &self.host, e) {
                Failure::Fatal(f) => f,
                Failure::Transient(message) => TransferError::Unavailable {
                    op: op.clone(),
                    attempts: 1,
                    message,
                },
            })?;
        let scheme = if self.plain_http { "http" } else { "https" };
        // The tag or digest goes into a URL: it must pass the reference grammar first.
        crate::reference::Reference::parse(&format!(
            "{}/{repo}{}{reference}",
            self.host,
            if reference.contains(':') { "@" } else { ":" }
        ))
        .map_err(|e| TransferError::BadReference(reference.to_owned(), e.to_string()))?;
        let url = format!("{scheme}://{}/v2/{repo}/manifests/{reference}", self.host);
        let http = reqwest::Client::builder()
            .connect_timeout(self.opts.connect_timeout)
            .timeout(self.opts.read_timeout)
            .user_agent(concat!("pqreg/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransferError::BadResponse {
                op: op.clone(),
                message: e.to_string(),
            })?;
        retry(self.opts.retry, &op, |_| async {
            let mut req = http.delete(&url);
            req = match (&token, &self.auth) {
                (Some(t), _) => req.bearer_auth(t),
                (None, RegistryAuth::Basic(u, p)) => req.basic_auth(u, Some(p)),
                (None, _) => req,
            };
            let res = req
                .send()
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?;
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            let message = format!("HTTP {status}: {}", body.trim());
            match status {
                200..=299 => Ok(()),
                408 | 429 | 500..=599 => Err(Failure::Transient(message)),
                401 | 403 => Err(Failure::Fatal(TransferError::Unauthorized {
                    op: op.clone(),
                    host: self.host.clone(),
                    message,
                })),
                404 => Err(Failure::Fatal(TransferError::NotFound {
                    op: op.clone(),
                    message,
                })),
                _ => Err(Failure::Fatal(TransferError::Refused {
                    op: op.clone(),
                    message,
                })),
            }
        })
        .await
    }
}
