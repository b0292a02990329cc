//! AdmissionReview v1, as the API server sends and reads it: only the fields
//! Portcullis uses. The objects are read with the envelope
//! (`ReviewOf<object::Object>`, the fast path), or kept as raw JSON
//! ([`ReviewIn`], to word errors).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// The review the API server posts, its objects read as `O`.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "O: Deserialize<'de>"))]
pub struct ReviewOf<O> {
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default = "none")]
    pub request: Option<RequestOf<O>>,
}

/// The review with its objects left raw.
pub type ReviewIn<'a> = ReviewOf<&'a RawValue>;
/// `request` of a review with its objects left raw.
pub type Request<'a> = RequestOf<&'a RawValue>;

fn none<T>() -> Option<T> {
    None
}

/// `request` of a review, its objects read as `O`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "O: Deserialize<'de>"))]
pub struct RequestOf<O> {
    pub uid: String,
    /// The kind of the object as the webhook is registered for it.
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub user_info: UserInfo,
    #[serde(default = "none")]
    pub object: Option<O>,
    #[serde(default = "none")]
    pub old_object: Option<O>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
}

/// The review Portcullis answers.
#[derive(Debug, Serialize)]
pub struct ReviewOut {
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: Response,
}

impl ReviewOut {
    pub fn new(response: Response) -> ReviewOut {
        ReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response,
        }
    }
}

/// `response` of a review.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    /// Base64 of the JSON patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
}

/// A `metav1.Status` with what the API server shows to the user.
#[derive(Debug, Serialize)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}
