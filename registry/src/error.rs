//! The registry's error codes: one table of code -> HTTP status -> message
//! (OCI distribution-spec v1.1, "Error Codes", plus pqreg's own), and the JSON error body
//! `{"errors":[{"code","message","detail"}]}` every failed request answers with.
//!
//! `spec/api.md` carries the same table; a test checks that the two agree.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

/// An error code of the distribution API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// code-1: the blob is not known in this repository.
    BlobUnknown,
    /// code-2: the upload request is malformed or the session is unusable.
    BlobUploadInvalid,
    /// code-3: no such upload session.
    BlobUploadUnknown,
    /// code-4: the content does not hash to the digest given, or the digest is malformed.
    DigestInvalid,
    /// code-5: a manifest references a blob or manifest the repository does not have.
    ManifestBlobUnknown,
    /// code-6: the manifest is malformed, or larger than the limit.
    ManifestInvalid,
    /// code-7: no such manifest (tag or digest) in this repository.
    ManifestUnknown,
    /// code-8: the repository name does not match the grammar.
    NameInvalid,
    /// code-9: no such repository.
    NameUnknown,
    /// code-10: the length given does not match the content.
    SizeInvalid,
    /// code-12: authentication required.
    Unauthorized,
    /// code-13: access denied.
    Denied,
    /// code-14: the operation is not supported (including writes in read-only mode).
    Unsupported,
    /// code-15: rate limited.
    TooManyRequests,
    /// pqreg: the chunk does not start where the session ends (416).
    RangeInvalid,
    /// pqreg: a reference (tag or digest in a path) does not match the grammar.
    ReferenceInvalid,
    /// pqreg: a query parameter is malformed.
    ParamInvalid,
    /// pqreg: the path matches no endpoint.
    NotFound,
    /// pqreg log: a submitted entry does not parse.
    LogEntryInvalid,
    /// pqreg log: no such tile or bundle (or not canonical, or an old partial width).
    LogTileUnknown,
    /// pqreg log: the leaf index is not below the tree size.
    IndexOutOfRange,
    /// pqreg log: the size exceeds the newest checkpoint.
    SizeUnknown,
    /// pqreg log: a consistency proof from a larger to a smaller size.
    SizeDecreased,
    /// pqreg log: a submission's signature, key, statement or manifest binding is invalid.
    SignatureInvalid,
    /// pqreg log: a signature-bundle referrer whose signature is not in the log.
    LogEntryMissing,
    /// pqreg log: a cosignature note that does not parse.
    CosignatureMalformed,
    /// pqreg log: a cosignature by no configured witness, or one that does not verify.
    CosignatureRefused,
    /// pqreg log: a cosigned checkpoint the log did not publish (recently).
    CheckpointUnknown,
    /// pqreg log: no entry with the given leaf hash.
    LeafUnknown,
    /// pqreg auth: a token request names another service, a malformed scope or too many.
    TokenRequestInvalid,
    /// pqreg limits: the request line and headers are larger than allowed (431).
    HeadersTooLarge,
    /// pqreg: the blob store's disk is full (or over quota); the request's bytes were not kept.
    StorageFull,
    /// pqreg: the server failed (I/O, storage); never caused by the request's content.
    Unknown,
}

/// One row of the error table.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The code as it travels in the JSON body.
    pub code: Code,
    /// Its wire name.
    pub name: &'static str,
    /// The HTTP status it answers with.
    pub status: u16,
    /// The default human-readable message.
    pub message: &'static str,
}

/// The error table: code, HTTP status, message. `spec/api.md` "Error codes" mirrors it.
pub const CODES: &[CodeInfo] = &[
    row(
        Code::BlobUnknown,
        "BLOB_UNKNOWN",
        404,
        "blob unknown to registry",
    ),
    row(
        Code::BlobUploadInvalid,
        "BLOB_UPLOAD_INVALID",
        400,
        "blob upload invalid",
    ),
    row(
        Code::BlobUploadUnknown,
        "BLOB_UPLOAD_UNKNOWN",
        404,
        "blob upload unknown to registry",
    ),
    row(
        Code::DigestInvalid,
        "DIGEST_INVALID",
        400,
        "provided digest did not match uploaded content",
    ),
    row(
        Code::ManifestBlobUnknown,
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a blob unknown to registry",
    ),
    row(
        Code::ManifestInvalid,
        "MANIFEST_INVALID",
        400,
        "manifest invalid",
    ),
    row(
        Code::ManifestUnknown,
        "MANIFEST_UNKNOWN",
        404,
        "manifest unknown",
    ),
    row(
        Code::NameInvalid,
        "NAME_INVALID",
        400,
        "invalid repository name",
    ),
    row(
        Code::NameUnknown,
        "NAME_UNKNOWN",
        404,
        "repository name not known to registry",
    ),
    row(
        Code::SizeInvalid,
        "SIZE_INVALID",
        400,
        "provided length did not match content length",
    ),
    row(
        Code::Unauthorized,
        "UNAUTHORIZED",
        401,
        "authentication required",
    ),
    row(
        Code::Denied,
        "DENIED",
        403,
        "requested access to the resource is denied",
    ),
    row(
        Code::Unsupported,
        "UNSUPPORTED",
        405,
        "the operation is unsupported",
    ),
    row(
        Code::TooManyRequests,
        "TOOMANYREQUESTS",
        429,
        "too many requests",
    ),
    row(
        Code::RangeInvalid,
        "BLOB_UPLOAD_INVALID",
        416,
        "chunk out of order or range not satisfiable",
    ),
    row(
        Code::ReferenceInvalid,
        "MANIFEST_INVALID",
        400,
        "invalid tag or digest in path",
    ),
    row(
        Code::ParamInvalid,
        "UNSUPPORTED",
        400,
        "invalid query parameter",
    ),
    row(Code::NotFound, "NOT_FOUND", 404, "no such endpoint"),
    row(
        Code::LogEntryInvalid,
        "LOG_ENTRY_INVALID",
        400,
        "log entry invalid",
    ),
    row(
        Code::LogTileUnknown,
        "LOG_TILE_UNKNOWN",
        404,
        "log tile unknown",
    ),
    row(
        Code::IndexOutOfRange,
        "INDEX_OUT_OF_RANGE",
        400,
        "log index out of range",
    ),
    row(
        Code::SizeUnknown,
        "SIZE_UNKNOWN",
        400,
        "tree size beyond the newest checkpoint",
    ),
    row(
        Code::SizeDecreased,
        "SIZE_DECREASED",
        400,
        "tree size decreased",
    ),
    row(
        Code::SignatureInvalid,
        "SIGNATURE_INVALID",
        400,
        "signature invalid",
    ),
    row(
        Code::LogEntryMissing,
        "LOG_ENTRY_MISSING",
        400,
        "signature not in the log",
    ),
    row(
        Code::CosignatureMalformed,
        "COSIGNATURE_INVALID",
        400,
        "cosignature note malformed",
    ),
    row(
        Code::CosignatureRefused,
        "COSIGNATURE_INVALID",
        403,
        "cosignature not by a configured witness, or invalid",
    ),
    row(
        Code::CheckpointUnknown,
        "CHECKPOINT_UNKNOWN",
        409,
        "not a recent checkpoint of this log",
    ),
    row(
        Code::LeafUnknown,
        "LEAF_UNKNOWN",
        404,
        "no entry with this leaf hash",
    ),
    row(
        Code::TokenRequestInvalid,
        "TOKEN_REQUEST_INVALID",
        400,
        "token request invalid",
    ),
    row(
        Code::HeadersTooLarge,
        "HEADERS_TOO_LARGE",
        431,
        "request headers too large",
    ),
    row(
        Code::StorageFull,
        "STORAGE_FULL",
        507,
        "the registry's storage is full",
    ),
    row(Code::Unknown, "UNKNOWN", 500, "internal server error"),
];

const fn row(code: Code, name: &'static str, status: u16, message: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        name,
        status,
        message,
    }
}

impl Code {
    /// This code's row of [`CODES`].
    pub fn info(self) -> &'static CodeInfo {
        // Every variant has exactly one row (tested); the fallback is the last row, UNKNOWN.
        CODES
            .iter()
            .find(|r| r.code == self)
            .unwrap_or(&CODES[CODES.len() - 1])
    }
}

/// A failed request: a code, an optional message override and detail.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", code.info().name)]
pub struct ApiError {
    /// The code.
    pub code: Code,
    /// The message (the table's by default).
    pub message: String,
    /// Structured detail for the client.
    pub detail: Option<Value>,
    /// Overrides the table's status (e.g. 413 for an oversized manifest).
    pub status: Option<u16>,
    /// Close the connection after answering instead of reading the rest of the request
    /// body (a body cut at its size limit or for being too slow).
    pub close: bool,
}

impl ApiError {
    /// An error with the table's message.
    pub fn new(code: Code) -> Self {
        ApiError {
            code,
            message: code.info().message.to_owned(),
            detail: None,
            status: None,
            close: false,
        }
    }

    /// Answers with `Connection: close`: the unread rest of the body is never read.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Replaces the message.
    pub fn msg(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Attaches detail.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Answers with `status` instead of the table's.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// A server-side failure; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(Code::Unknown)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut e = json!({"code": self.code.info().name, "message": self.message});
        if let Some(d) = &self.detail {
            e["detail"] = d.clone();
        }
        json!({ "errors": [e] })
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::{QuotaExceeded, StorageFull};
        if matches!(e.kind(), StorageFull | QuotaExceeded) {
            tracing::warn!(error = %e, "storage full");
            ApiError::new(Code::StorageFull)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<crate::meta::MetaError> for ApiError {
    fn from(e: crate::meta::MetaError) -> Self {
        ApiError::internal(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status.unwrap_or(self.code.info().status))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if self.close {
            r.force_close();
        }
        r.insert_header(("Docker-Distribution-API-Version", "registry/2.0"))
            .json(self.body())
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_row() {
        for r in CODES {
            let n = CODES.iter().filter(|o| o.code == r.code).count();
            assert_eq!(n, 1, "{:?}", r.code);
            assert_eq!(r.code.info().status, r.status);
        }
    }

    /// spec/api.md's error table lists exactly the rows of [`CODES`].
    #[test]
    fn doc_table_matches_code() {
        let doc = include_str!("../../spec/api.md");
        let start = doc
            .find("<!-- table: error-codes -->")
            .expect("marker in spec/api.md");
        let rows: Vec<(String, u16, String)> = doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].parse().expect("status"),
                    cells[3].to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, u16, String)> = CODES
            .iter()
            .map(|r| (r.name.to_owned(), r.status, r.message.to_owned()))
            .collect();
        assert_eq!(rows, want);
    }
}
