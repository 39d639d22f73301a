//! Listing and deleting: the registry's catalog (`GET /v2/_catalog`, all pages, walked
//! with limits by [`super::pages`]) and manifest or tag deletion (`DELETE
//! /v2/<name>/manifests/<reference>`, OCI distribution-spec "Deleting manifests",
//! end-9). oci-client has no delete, so the request is sent with reqwest, carrying the
//! bearer token for a push to the repository ([`super::token`]), or the Basic credential
//! when the registry takes those. Of the DELETE's answer at most
//! [`MAX_ERROR_BODY`] bytes are read, and only when it is an error (for its message).

use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;

use super::bounded::{MAX_ERROR_BODY, error_message};
use super::error::{Failure, TransferError, classify_status};
use super::pages::List;
use super::retry::retry;
use super::token::Grant;
use super::{Inner, RegistryClient};

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
        // The catalog is not per repository; a reference still locates the registry, so
        // any valid name does.
        self.list_names(List::Catalog, "catalog", "list the registry's repositories")
            .await
    }

    async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<(), TransferError> {
        let image = self.reference(repo, None, None)?;
        let op = format!("delete {repo}:{reference}");
        let grant = self
            .authorize(&image, RegistryOperation::Push, false, &op)
            .await
            .map_err(|f| match f {
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
            req = match (&grant, &self.auth) {
                (Grant::Bearer(t), _) => req.bearer_auth(t),
                (Grant::Basic(u, p), _) | (Grant::None, RegistryAuth::Basic(u, p)) => {
                    req.basic_auth(u, Some(p))
                }
                (Grant::None, _) => req,
            };
            let res = req
                .send()
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?;
            let status = res.status().as_u16();
            if (200..300).contains(&status) {
                // The body says nothing we need: it is not read (a registry that keeps
                // sending cannot grow the client).
                return Ok(());
            }
            let body = error_message(res, MAX_ERROR_BODY).await;
            Err(classify_status(&op, &self.host, status, body))
        })
        .await
    }
}
